// Drive @linode/kubeseal-encrypt (an independent JavaScript implementation) for Fjord's
// interoperability test. It seals namespace-wide only, from a UTF-8 string, with an SPKI key.
//   node kubeseal_encrypt.mjs MODULE_DIR   stdin: {"publicKeyPem", "namespace", "values": [str]}
//   stdout: ["<base64 ciphertext>", ...]
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const moduleDir = process.argv[2];
const { encryptSecretItem } = await import(
  pathToFileURL(join(moduleDir, "dist", "index.js")).href
);
const request = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const value of request.values) {
  out.push(await encryptSecretItem(request.publicKeyPem, request.namespace, value));
}
process.stdout.write(JSON.stringify(out));
