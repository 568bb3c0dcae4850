import { createRequire } from 'node:module';
import { setHashCostForTests } from '../../src/domain/admin/passwords.js';

// vitest setup file, run in every test worker before each test file.

/** scrypt cost of the accounts tests create: the lowest the verifier accepts. */
export const TEST_HASH_COST = 2 ** 10;

setHashCostForTests(TEST_HASH_COST);

/** JSON.stringify would write a RegExp as `{}` and drop a function: keep them apart. */
const exact = (_key: string, value: unknown) =>
  value instanceof RegExp || typeof value === 'function' ? `${typeof value}:${String(value)}` : value;

type RouteSchema = { schema: unknown; httpPart?: string; httpStatus?: string; contentType?: string };
type Compile = (route: RouteSchema) => unknown;
type CompilerFactory = (externalSchemas: unknown, options: unknown) => Compile;
type Selector = ((opts?: unknown) => CompilerFactory) & Record<string, unknown>;

/**
 * Most tests build an app of their own, and Fastify compiles every route's schemas into a new
 * validator (ajv) and serializer (fast-json-stringify) for each app: about half a second of CPU per
 * app, most of the suite's time. The compiled functions depend only on the schema and the
 * compiler options, so within a worker one app's are handed to the next app with the same
 * schemas. Production builds one app and compiles once, exactly as before.
 */
function shareCompiledSchemas(moduleId: string): void {
  const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
  const resolved = fromFastify.resolve(moduleId);
  const original = fromFastify(moduleId) as Selector;
  const compiled = new Map<string, unknown>();
  const selector = ((opts?: unknown) => {
    const makeCompiler = original(opts);
    return (externalSchemas: unknown, options: unknown): Compile => {
      const compile = makeCompiler(externalSchemas, options);
      const context = JSON.stringify([opts, externalSchemas, options], exact);
      return (route) => {
        const key = JSON.stringify(
          [context, route.schema, route.httpPart, route.httpStatus, route.contentType],
          exact,
        );
        let fn = compiled.get(key);
        if (fn === undefined) compiled.set(key, (fn = compile(route)));
        return fn;
      };
    };
  }) as Selector;
  Object.assign(selector, original, { default: selector });
  fromFastify.cache[resolved]!.exports = selector;
}

shareCompiledSchemas('@fastify/ajv-compiler');
shareCompiledSchemas('@fastify/fast-json-stringify-compiler');
