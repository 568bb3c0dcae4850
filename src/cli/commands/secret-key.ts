import type { Command } from 'commander';
import { withServices } from '../runner.js';

/** Making, adding and rotating the keys that seal card passwords at rest (docs/operations.md). */
export function registerSecretKeyCommands(program: Command): void {
  const key = program
    .command('secret-key')
    .description('the key file that seals card passwords at rest (MOVTICKET_SECRET_KEY_FILE)');

  key
    .command('generate')
    .description('make a new key: write a new owner-only key file, or print the key to stdout')
    .option('--out <file>', 'write a new key file (refuses an existing file; mode 0600)')
    .action(async (o: { out?: string }) => {
      if (o.out === undefined) {
        const { generateKeyText, keyFileEntry } = await import('../../domain/secret-box.js');
        process.stdout.write(keyFileEntry(generateKeyText(), new Date()));
        return;
      }
      const { createKeyFile, readKeyFile } = await import('../../secret-key-file.js');
      createKeyFile(o.out);
      process.stdout.write(
        `wrote ${o.out} with key ${readKeyFile(o.out).currentKeyId}; set MOVTICKET_SECRET_KEY_FILE=${o.out}\n`,
      );
    });

  key
    .command('add')
    .description(
      'put a new key in front of the key file: it seals from the next start on, older keys still open',
    )
    .argument('[file]', 'the key file (default: MOVTICKET_SECRET_KEY_FILE)')
    .action(async (file: string | undefined) => {
      const [{ loadConfig }, { addKeyToFile }] = await Promise.all([
        import('../../config.js'),
        import('../../secret-key-file.js'),
      ]);
      const target = file ?? loadConfig().secretKeyFile;
      if (target === undefined) throw new Error('give the key file, or set MOVTICKET_SECRET_KEY_FILE');
      const box = addKeyToFile(target);
      process.stdout.write(
        `added key ${box.currentKeyId} in front of ${target} (${box.keyIds.length} keys); ` +
          'restart every server, then run `movticket secret-key rotate`\n',
      );
    });

  key
    .command('rotate')
    .description(
      're-seal every stored secret under the newest key of the key file (and seal any plaintext left)',
    )
    .action(() =>
      withServices(async (ctx) => {
        const { resealStoredSecrets } = await import('../../domain/secrets-at-rest.js');
        const box = ctx.secrets();
        const counts = await resealStoredSecrets(ctx.db, box);
        ctx.out(
          `re-sealed ${counts.cards} card passwords, ${counts.requests} stored answers and ${counts.sms} queued SMS under key ${box.currentKeyId}`,
        );
        const older = box.keyIds.slice(1);
        if (older.length > 0) {
          ctx.out(
            `the database no longer needs key${older.length > 1 ? 's' : ''} ${older.join(', ')}; ` +
              'remove it from the key file once no backup made before now is kept',
          );
        }
      }),
    );
}
