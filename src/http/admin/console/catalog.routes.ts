import type { ConsoleContext } from './context.js';
import { cinemaRoutes } from './catalog-cinemas.routes.js';
import { importRoutes } from './catalog-import.routes.js';
import { kindRoutes } from './catalog-kinds.routes.js';
import { placeRoutes } from './catalog-places.routes.js';

/** The catalog pages under /admin/catalog, one module per section. */
export function catalogRoutes(c: ConsoleContext): void {
  cinemaRoutes(c);
  kindRoutes(c);
  placeRoutes(c);
  importRoutes(c);
}
