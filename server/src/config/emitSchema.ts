/** Build step: writes the config's JSON Schema (generated from the zod schema) to the path given. */
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from './schema';

writeFileSync(process.argv[2]!, JSON.stringify(configJsonSchema(), null, 2) + '\n');
