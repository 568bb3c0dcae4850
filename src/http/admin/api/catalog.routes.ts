import { Type } from '@sinclair/typebox';
import type { AdminDeps } from '../deps.js';
import { Id, ShortText, STAFF, Strict, Yuan } from './common.js';
import { apiRoute } from './route.js';
import {
  CatalogSchema,
  CinemaSchema,
  CitySchema,
  ErrorSchema,
  ImportReportSchema,
  KindSchema,
  RegionSchema,
} from './schemas.js';

const Sort = Type.Integer({ description: 'display order' });
const ValidDays = Type.Integer({ description: 'days a paid card stays valid' });
const CinemaIds = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100_000 });

const CityChanges = Strict({
  name: Type.Optional(ShortText(50)),
  remark: Type.Optional(ShortText(50)),
  sort: Type.Optional(Sort),
});

const ImportQuery = Strict({
  dryRun: Type.Optional(Type.Boolean({ description: 'only report; change nothing' })),
  source: Type.Optional(ShortText(200, 'names the file in the audit log')),
});

/** Cities, regions, cinemas and kinds, default prices, CSV import (staff). */
export function catalogRoutes(deps: AdminDeps) {
  const { catalog } = deps;
  const changed = async <T>(result: Promise<T>): Promise<T> => {
    const value = await result;
    await deps.afterRegistryChange();
    return value;
  };
  return [
    apiRoute({
      method: 'GET',
      url: '/admin/api/catalog',
      tag: 'catalog',
      summary: 'The whole catalog, inactive entries included',
      roles: STAFF,
      response: { 200: CatalogSchema },
      handler: async ({ actor }) => catalog.list(actor),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/cities',
      tag: 'catalog',
      summary: 'Create a city',
      roles: STAFF,
      body: Strict({
        codeId: Type.String({ maxLength: 3, description: '3 digits' }),
        name: ShortText(50),
        remark: Type.Optional(ShortText(50)),
        sort: Type.Optional(Sort),
      }),
      response: { 201: CitySchema, 409: ErrorSchema },
      handler: async ({ actor, body }) => changed(catalog.createCity(actor, body)),
    }),
    apiRoute({
      method: 'PATCH',
      url: '/admin/api/catalog/cities/:codeId',
      tag: 'catalog',
      summary: 'Edit a city',
      roles: STAFF,
      params: Strict({ codeId: Id() }),
      body: CityChanges,
      response: { 200: CitySchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) => changed(catalog.editCity(actor, params.codeId, body)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/regions',
      tag: 'catalog',
      summary: 'Create a region in a city',
      roles: STAFF,
      body: Strict({
        codeId: Id(),
        cityId: Type.String({ maxLength: 3 }),
        name: ShortText(50),
        remark: Type.Optional(ShortText(50)),
        sort: Type.Optional(Sort),
      }),
      response: { 201: RegionSchema, 404: ErrorSchema, 409: ErrorSchema },
      handler: async ({ actor, body }) => changed(catalog.createRegion(actor, body)),
    }),
    apiRoute({
      method: 'PATCH',
      url: '/admin/api/catalog/regions/:codeId',
      tag: 'catalog',
      summary: 'Edit a region (it stays in its city)',
      roles: STAFF,
      params: Strict({ codeId: Id() }),
      body: CityChanges,
      response: { 200: RegionSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) => changed(catalog.editRegion(actor, params.codeId, body)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/cinemas',
      tag: 'catalog',
      summary: 'Create a cinema',
      roles: STAFF,
      body: Strict({
        cinemaId: Id(),
        name: ShortText(100),
        regionId: Id(),
        address: Type.Optional(ShortText(200)),
        tel: Type.Optional(ShortText(40)),
        price: Yuan('default settlement price, yuan'),
        marketPrice: Yuan('market price, yuan'),
        validDays: Type.Optional(ValidDays),
        active: Type.Optional(Type.Boolean()),
      }),
      response: { 201: CinemaSchema, 404: ErrorSchema, 409: ErrorSchema },
      handler: async ({ actor, body }) => changed(catalog.createCinema(actor, body)),
    }),
    apiRoute({
      method: 'PATCH',
      url: '/admin/api/catalog/cinemas/:cinemaId',
      tag: 'catalog',
      summary: 'Edit a cinema; a new region moves it to that region’s city',
      roles: STAFF,
      params: Strict({ cinemaId: Id() }),
      body: Strict({
        name: Type.Optional(ShortText(100)),
        regionId: Type.Optional(Id()),
        address: Type.Optional(ShortText(200)),
        tel: Type.Optional(ShortText(40)),
        price: Type.Optional(Yuan()),
        marketPrice: Type.Optional(Yuan()),
        validDays: Type.Optional(ValidDays),
      }),
      response: { 200: CinemaSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) => changed(catalog.editCinema(actor, params.cinemaId, body)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/cinemas/:cinemaId/activate',
      tag: 'catalog',
      summary: 'Activate a cinema',
      roles: STAFF,
      params: Strict({ cinemaId: Id() }),
      response: { 200: CinemaSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => changed(catalog.setCinemaActive(actor, params.cinemaId, true)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/cinemas/:cinemaId/deactivate',
      tag: 'catalog',
      summary: 'Deactivate a cinema',
      roles: STAFF,
      params: Strict({ cinemaId: Id() }),
      response: { 200: CinemaSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => changed(catalog.setCinemaActive(actor, params.cinemaId, false)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/kinds',
      tag: 'catalog',
      summary: 'Create a kind (a card valid at a set of cinemas)',
      roles: STAFF,
      body: Strict({
        kindId: Id(),
        name: ShortText(100),
        price: Yuan('default settlement price, yuan'),
        marketPrice: Yuan('market price, yuan'),
        validDays: ValidDays,
        remark: Type.Optional(ShortText(200)),
        active: Type.Optional(Type.Boolean()),
        cinemaIds: Type.Optional(CinemaIds),
      }),
      response: { 201: KindSchema, 404: ErrorSchema, 409: ErrorSchema },
      handler: async ({ actor, body }) => changed(catalog.createKind(actor, body)),
    }),
    apiRoute({
      method: 'PATCH',
      url: '/admin/api/catalog/kinds/:kindId',
      tag: 'catalog',
      summary: 'Edit a kind',
      roles: STAFF,
      params: Strict({ kindId: Id() }),
      body: Strict({
        name: Type.Optional(ShortText(100)),
        price: Type.Optional(Yuan()),
        marketPrice: Type.Optional(Yuan()),
        validDays: Type.Optional(ValidDays),
        remark: Type.Optional(ShortText(200)),
      }),
      response: { 200: KindSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) => changed(catalog.editKind(actor, params.kindId, body)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/kinds/:kindId/activate',
      tag: 'catalog',
      summary: 'Activate a kind',
      roles: STAFF,
      params: Strict({ kindId: Id() }),
      response: { 200: KindSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => changed(catalog.setKindActive(actor, params.kindId, true)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/kinds/:kindId/deactivate',
      tag: 'catalog',
      summary: 'Deactivate a kind',
      roles: STAFF,
      params: Strict({ kindId: Id() }),
      response: { 200: KindSchema, 404: ErrorSchema },
      handler: async ({ actor, params }) => changed(catalog.setKindActive(actor, params.kindId, false)),
    }),
    apiRoute({
      method: 'PUT',
      url: '/admin/api/catalog/kinds/:kindId/cinemas',
      tag: 'catalog',
      summary: 'Replace the cinemas where a kind is accepted',
      roles: STAFF,
      params: Strict({ kindId: Id() }),
      body: Strict({ cinemaIds: CinemaIds }),
      response: { 200: KindSchema, 404: ErrorSchema },
      handler: async ({ actor, params, body }) =>
        changed(catalog.setKindCinemas(actor, params.kindId, body.cinemaIds)),
    }),
    apiRoute({
      method: 'POST',
      url: '/admin/api/catalog/import',
      tag: 'catalog',
      summary: 'Import cinemas from CSV (all or nothing; dryRun only reports)',
      description:
        'Send the file as `text/csv` (options in the query) or as JSON `{csv, dryRun?, source?}`. ' +
        'The answer lists every problem; with any problem nothing changes (`applied: false`).',
      roles: STAFF,
      querystring: ImportQuery,
      consumes: ['text/csv', 'application/json'],
      body: Type.Union([
        Type.String({ description: 'the CSV file (text/csv)' }),
        Strict({
          csv: Type.String(),
          dryRun: Type.Optional(Type.Boolean()),
          source: Type.Optional(ShortText(200)),
        }),
      ]),
      response: { 200: ImportReportSchema },
      handler: async ({ actor, body, query }) => {
        const csv = typeof body === 'string' ? body : body.csv;
        const dryRun = (typeof body === 'string' ? undefined : body.dryRun) ?? query.dryRun ?? false;
        const source = (typeof body === 'string' ? undefined : body.source) ?? query.source ?? 'api';
        const report = await catalog.importCinemas(actor, csv, { dryRun, source });
        if (report.applied) await deps.afterRegistryChange();
        return report;
      },
    }),
  ];
}
