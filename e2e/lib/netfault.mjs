// Network faults on loopback, for tests that run inside their own network namespace
// (`unshare -n`, see the Makefile): UDP (all WebRTC media and ICE here) can be blackholed
// while TCP (signaling) keeps working. This kernel has no drop action for tc filters, so
// UDP is classified into an HTB class limited to 8 bit/s with a one-packet queue.
import { execFileSync } from 'node:child_process';

const tc = (...args) => execFileSync('tc', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why faults cannot be injected here, or null when they can. */
export function netfaultUnavailable() {
  let links;
  try {
    links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  } catch (error) {
    return `ip failed: ${error.message}`;
  }
  const names = links.split('\n').filter(Boolean).map((line) => line.split(':')[1]?.trim());
  if (names.some((name) => name !== 'lo')) return `not in an isolated network namespace (links: ${names.join(', ')}); refusing to touch the host's loopback`;
  try {
    installBlackholeClass();
    return null;
  } catch (error) {
    return `tc refused the HTB setup: ${error.stderr?.toString().trim() || error.message}`;
  }
}

let installed = false;
function installBlackholeClass() {
  if (installed) return;
  tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '1');
  tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '10gbit');
  tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:2', 'htb', 'rate', '8bit', 'ceil', '8bit', 'burst', '1', 'cburst', '1');
  tc('qdisc', 'add', 'dev', 'lo', 'parent', '1:2', 'handle', '20:', 'pfifo', 'limit', '1');
  installed = true;
}

/** From now on, UDP on loopback goes nowhere. */
export function blockUdp() {
  installBlackholeClass();
  tc('filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'protocol', '17', '0xff', 'flowid', '1:2');
}

/** UDP flows again. */
export function unblockUdp() {
  tc('filter', 'del', 'dev', 'lo', 'parent', '1:', 'prio', '1');
}

/** Removes everything blockUdp installed. */
export function resetNetfault() {
  if (!installed) return;
  try { tc('qdisc', 'del', 'dev', 'lo', 'root'); } catch { /* already gone */ }
  installed = false;
}
