#!/usr/bin/env bash
# Debian's Slurm (slurmctld, slurmd, munge, slurm-client) for the Slurm test suite
# (test/slurm/slurm.test.ts brings a one-node cluster up and down itself, in a temporary folder,
# on non-default ports, without systemd). Idempotent: installs only what is missing, and only as
# root; otherwise it says what is missing and exits 0 (the suite then fails under CI=true and is
# skipped with the reason elsewhere). The packages' own service start fails without systemd:
# harmless, the tests start the daemons themselves.
set -euo pipefail
need=()
for f in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/bin/sbatch; do
  [ -x "$f" ] || need+=("$f")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "setup-slurm: Slurm is installed (Slurm $(dpkg-query -W -f='${Version}' slurmctld 2>/dev/null || echo '?'))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-slurm: missing ${need[*]}; not root, so not installing (as root: apt-get install -y --no-install-recommends slurmctld slurmd munge slurm-client)"
  exit 0
fi
echo "setup-slurm: installing slurmctld slurmd munge slurm-client (missing: ${need[*]})"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The packages' postinst may fail to start their services here (no systemd): that is not an error for us.
apt-get install -y -qq --no-install-recommends slurmctld slurmd munge slurm-client || true
for f in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/bin/sbatch; do
  [ -x "$f" ] || { echo "setup-slurm: $f still missing after apt-get install" >&2; exit 1; }
done
[ -f /etc/munge/munge.key ] || { echo "setup-slurm: /etc/munge/munge.key missing (the munge package creates it)" >&2; exit 1; }
echo "setup-slurm: installed (Slurm $(dpkg-query -W -f='${Version}' slurmctld))"
