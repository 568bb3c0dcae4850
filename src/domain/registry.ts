import type { Db } from '../db/database.js';
import { loadRegistryRows, type RegistryRows } from '../db/catalog.repository.js';
import type { CinemaTable, KindTable, PartnerTable } from '../db/schema.js';
import type { SignMode } from './sign.js';

export interface SecurityConfig {
  secId: string;
  md5key: string;
  signMode: SignMode;
}

export interface Partner {
  partnerId: string;
  name: string;
  busId: string;
  status: PartnerTable['status'];
  /** Granted interface names; `*` in the stored list grants all. */
  permissions: ReadonlySet<string>;
  allowAll: boolean;
  ipAllow: ReadonlySet<string>;
  rateLimit: number;
  securityConfigs: ReadonlyMap<string, SecurityConfig>;
  /** `cinema:ID` / `kind:ID` → settlement price in fen. */
  prices: ReadonlyMap<string, number>;
}

export type Cinema = Readonly<CinemaTable>;
export type Kind = Readonly<KindTable> & { cinemaIds: readonly string[] };

export interface City {
  code_id: string;
  code_name: string;
  remark: string;
}
export interface Region extends City {
  city_id: string;
}

/** An immutable in-memory view of catalog, partners, keys and prices. */
export class RegistrySnapshot {
  readonly cities: City[];
  readonly citiesById = new Map<string, City>();
  readonly regionsByCity = new Map<string, Region[]>();
  readonly regionsById = new Map<string, Region>();
  readonly activeCinemasByRegion = new Map<string, Cinema[]>();
  readonly cinemasById = new Map<string, Cinema>();
  readonly kinds: Kind[];
  readonly kindsById = new Map<string, Kind>();
  readonly partners = new Map<string, Partner>();
  /** Cache of rendered responses, valid for this snapshot's lifetime. */
  readonly rendered = new Map<string, unknown>();

  constructor(rows: RegistryRows) {
    for (const c of rows.cinemas) {
      this.cinemasById.set(c.cinema_id, c);
      if (!c.active) continue;
      const list = this.activeCinemasByRegion.get(c.region_id) ?? [];
      list.push(c);
      this.activeCinemasByRegion.set(c.region_id, list);
    }
    const liveRegions = new Set(this.activeCinemasByRegion.keys());
    for (const r of rows.regions) {
      const region: Region = {
        code_id: r.code_id,
        city_id: r.city_id,
        code_name: r.code_name,
        remark: r.remark,
      };
      this.regionsById.set(r.code_id, region);
      if (!liveRegions.has(r.code_id)) continue;
      const list = this.regionsByCity.get(r.city_id) ?? [];
      list.push(region);
      this.regionsByCity.set(r.city_id, list);
    }
    this.cities = [];
    for (const c of rows.cities) {
      const city: City = { code_id: c.code_id, code_name: c.code_name, remark: c.remark };
      this.citiesById.set(c.code_id, city);
      if (this.regionsByCity.has(c.code_id)) this.cities.push(city);
    }
    const kindCinemas = new Map<string, string[]>();
    for (const kc of rows.kindCinemas) {
      const list = kindCinemas.get(kc.kind_id) ?? [];
      list.push(kc.cinema_id);
      kindCinemas.set(kc.kind_id, list);
    }
    this.kinds = [];
    for (const k of rows.kinds) {
      const kind: Kind = { ...k, cinemaIds: kindCinemas.get(k.kind_id) ?? [] };
      this.kindsById.set(k.kind_id, kind);
      if (k.active) this.kinds.push(kind);
    }
    const prices = new Map<string, Map<string, number>>();
    for (const p of rows.partnerPrices) {
      const m = prices.get(p.partner_id) ?? new Map<string, number>();
      m.set(`${p.target_type}:${p.target_id}`, p.price_fen);
      prices.set(p.partner_id, m);
    }
    const configs = new Map<string, Map<string, SecurityConfig>>();
    for (const s of rows.securityConfigs) {
      if (s.status !== 'active') continue;
      const m = configs.get(s.partner_id) ?? new Map<string, SecurityConfig>();
      m.set(s.sec_id, { secId: s.sec_id, md5key: s.md5key, signMode: s.sign_mode });
      configs.set(s.partner_id, m);
    }
    for (const p of rows.partners) {
      const permissions = new Set(
        p.permissions
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
      this.partners.set(p.partner_id, {
        partnerId: p.partner_id,
        name: p.name,
        busId: p.bus_id,
        status: p.status,
        permissions,
        allowAll: permissions.has('*'),
        ipAllow: new Set(
          p.ip_allow
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
        rateLimit: p.rate_limit,
        securityConfigs: configs.get(p.partner_id) ?? new Map(),
        prices: prices.get(p.partner_id) ?? new Map(),
      });
    }
  }

  cinemaPrice(partner: Partner, cinema: Cinema): number {
    return partner.prices.get(`cinema:${cinema.cinema_id}`) ?? cinema.price_fen;
  }

  kindPrice(partner: Partner, kind: Kind): number {
    return partner.prices.get(`kind:${kind.kind_id}`) ?? kind.price_fen;
  }

  /** Memoises a derived value for the lifetime of this snapshot. */
  memo<T>(key: string, make: () => T): T {
    let v = this.rendered.get(key) as T | undefined;
    if (v === undefined) {
      v = make();
      this.rendered.set(key, v);
    }
    return v;
  }
}

/**
 * Holds the current snapshot. Catalog and partner settings change rarely, so requests read them
 * from memory; but a change made anywhere (this process, another server, the CLI) must be seen
 * by the next request. Database triggers raise a version counter in the transaction of every
 * change (migration 008); `current()` compares it before a request is answered and reloads when
 * it moved. On PostgreSQL the same triggers also announce the change (migration 013): the
 * registry reloads as soon as it hears, so the next request usually finds the snapshot fresh
 * and pays no reload. A notification travels on a connection of its own and may arrive after a
 * request the change preceded, or not at all while that connection is down; the version check
 * stays, for that.
 */
export class Registry {
  private version: number;
  private reloading: Promise<void> | null = null;

  private constructor(
    private readonly db: Db,
    private snap: RegistrySnapshot,
    version: number,
  ) {
    this.version = version;
  }

  static async load(db: Db): Promise<Registry> {
    const version = await db.registryVersion();
    const registry = new Registry(db, new RegistrySnapshot(await loadRegistryRows(db.kysely)), version);
    db.watchRegistry(() => void registry.refresh());
    return registry;
  }

  /**
   * The snapshot as of the last load, without asking the database. Code answering a request
   * uses `current()`; this is for work that follows it (an SMS text, a validity period).
   */
  get snapshot(): RegistrySnapshot {
    return this.snap;
  }

  /** The snapshot with every change committed before this call; reloads first when needed. */
  async current(): Promise<RegistrySnapshot> {
    const seen = await this.db.registryVersion();
    if (seen !== this.version) await this.loadAfter(() => seen === this.version);
    return this.snap;
  }

  /**
   * Catches up with the database now if its version moved, without waiting for a request; a
   * failure (the database unreachable) is left for the next request's check to meet.
   */
  async refresh(): Promise<void> {
    await this.current().catch(() => {});
  }

  /** Reloads now; used after a change made by this process. */
  reload(): Promise<void> {
    return this.loadAfter(() => false);
  }

  /**
   * Makes sure a load that began after this call has finished, unless `enough` says the one
   * already running did the job. Loads never overlap, so an older one cannot land last.
   */
  private async loadAfter(enough: () => boolean): Promise<void> {
    if (this.reloading) {
      await this.reloading.catch(() => {});
      if (enough()) return;
    }
    await (this.reloading ??= this.load().finally(() => {
      this.reloading = null;
    }));
  }

  private async load(): Promise<void> {
    // The version is read first: a change landing during the load makes the next check reload.
    const version = await this.db.registryVersion();
    this.snap = new RegistrySnapshot(await loadRegistryRows(this.db.kysely));
    this.version = version;
  }
}
