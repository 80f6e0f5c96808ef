// Validate glTF binaries with the Khronos glTF validator (npm `gltf-validator`, a devDependency of web/):
//   node tests/models/validate.mjs FILE.glb ...   ->  one JSON line per file: {file, errors, warnings, messages}
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(fileURLToPath(new URL("../../web/package.json", import.meta.url)));
const validator = require("gltf-validator");

for (const file of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), { maxIssues: 50 });
  const { numErrors: errors, numWarnings: warnings, messages } = report.issues;
  console.log(JSON.stringify({ file, errors, warnings, messages: messages.slice(0, 10) }));
}
