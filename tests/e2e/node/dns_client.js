// Resolves names through a custom DNS server with Node's own resolver (c-ares, over UDP), for the DNS
// sys-span e2e test.   node dns_client.js <server port>
const dns = require('dns');
const port = process.argv[2];

async function main() {
  const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const a = await resolver.resolve4('node.example.test');
  if (a.length !== 1 || a[0] !== '10.1.2.3') throw new Error(`unexpected answer ${JSON.stringify(a)}`);
  try {
    await resolver.resolve4('node.nx.test');
    throw new Error('node.nx.test resolved');
  } catch (e) {
    if (e.code !== 'ENOTFOUND') throw e;  // c-ares says ENOTFOUND for NXDOMAIN
  }
  console.log('node resolver: ok');
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
