import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Actor } from '../../../domain/admin/audit.service.js';
import type { StaffUser } from '../../../domain/admin/redemption.service.js';
import { dayOf } from '../../../domain/dates.js';
import { requireRole, verifyCsrf } from '../auth/guards.js';
import type { AdminDeps } from '../deps.js';
import { onceForm } from '../once.js';
import { timeIn } from './format.js';

/** What every page module of the console gets: the services, guards and a few formatters. */
export interface ConsoleContext {
  /** The app's root instance (the API tester injects partner requests into it). */
  app: FastifyInstance;
  deps: AdminDeps;
  tz: string;
  /** Epoch ms in the platform time zone, `YYYY-MM-DD HH:MM:SS`. */
  time: (ms: number | null | undefined) => string;
  /** Today in the platform time zone, `YYYY-MM-DD`. */
  today(): string;
  /** Page guards (GET). */
  view: {
    staff: preHandlerHookHandler[];
    admin: preHandlerHookHandler[];
    cinema: preHandlerHookHandler[];
    anyone: preHandlerHookHandler[];
  };
  /**
   * Guards of state-changing forms (POST): the role, the CSRF token, then the form's one-time
   * `_once` token (a repeat gets the first response and does not run the handler).
   */
  change: {
    staff: preHandlerHookHandler[];
    admin: preHandlerHookHandler[];
    cinema: preHandlerHookHandler[];
    anyone: preHandlerHookHandler[];
  };
}

export function makeContext(app: FastifyInstance, deps: AdminDeps): ConsoleContext {
  const tz = deps.config.timeZone;
  const staff = requireRole('admin', 'operator');
  const admin = requireRole('admin');
  const cinema = requireRole('cinema');
  const once = onceForm(deps.idempotency);
  return {
    app,
    deps,
    tz,
    time: timeIn(tz),
    today: () => dayOf(deps.clock.now(), tz),
    view: {
      staff: [staff],
      admin: [admin],
      cinema: [cinema],
      anyone: [requireRole('admin', 'operator', 'cinema')],
    },
    change: {
      staff: [staff, verifyCsrf, once],
      admin: [admin, verifyCsrf, once],
      cinema: [cinema, verifyCsrf, once],
      anyone: [requireRole('admin', 'operator', 'cinema'), verifyCsrf, once],
    },
  };
}

/** The signed-in user; the route's guard has made sure there is one. */
export function userOf(request: FastifyRequest) {
  const u = request.user;
  if (!u) throw new Error('console route reached without a signed-in user');
  return u;
}

/** The actor the admin services record in the audit log. */
export function actorOf(request: FastifyRequest): Actor {
  const u = userOf(request);
  return { actor: `user:${u.username}`, role: u.role };
}

/** The redemption service's view of the user. */
export function staffOf(request: FastifyRequest): StaffUser {
  const u = userOf(request);
  return { userId: u.userId, role: u.role, cinemaId: u.cinemaId, username: u.username };
}
