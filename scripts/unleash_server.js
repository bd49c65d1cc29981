// The Unleash server as the tests, the benchmark and the demo run it (simulator/unleash_proc.py): unleash-server
// from .tools/unleash (scripts/install_unleash.sh, found through NODE_PATH), configured by its environment
// variables: DATABASE_URL, HTTP_HOST, HTTP_PORT, INIT_ADMIN_API_TOKENS, INIT_CLIENT_API_TOKENS. Version checks and
// telemetry are off: a test stand calls no one.
const unleash = require('unleash-server');

unleash
  .start({ versionCheck: { enable: false }, sendTelemetry: false, authentication: { type: 'open-source' } })
  .then(() => console.log('unleash ready'))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
