/**
 * A process that starts a two-replica cluster and waits, for the test that kills it with
 * SIGKILL: nothing of what it started may outlive it. Prints the balancer's URL as a JSON
 * line, then `ready`. Arguments: the database URL, the root key.
 */
import { startHaproxyCluster } from "./haproxy-cluster.js";

const [databaseUrl, rootKey] = process.argv.slice(2);
const cluster = await startHaproxyCluster({ databaseUrl: databaseUrl!, rootKey: rootKey!, replicas: 2 });
process.stdout.write(`${JSON.stringify({ url: cluster.url })}\nready\n`);
// Keeps the process alive until it is killed.
setInterval(() => {}, 60_000);
