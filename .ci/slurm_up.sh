#!/usr/bin/env bash
# A real single-node SLURM on this machine (Debian's slurm-wlm + munge), for tests/test_slurm.py.
# Runs as root (CI). Installs the packages when missing, writes slurm.conf for this host (node
# line from `slurmd -C`, one fake GPU so GPU rules can be scheduled without a GPU), starts munged,
# slurmctld and slurmd as daemons and waits until the node takes jobs. Everything it writes lies
# under $DERMSYNTH_SLURM_ROOT (default /tmp/dermsynth-slurm); the daemons' pids go to
# $ROOT/pids, for .ci/slurm_down.sh. Clients find the cluster through $ROOT/env:
#   . /tmp/dermsynth-slurm/env && sinfo
set -euo pipefail
ROOT=${DERMSYNTH_SLURM_ROOT:-/tmp/dermsynth-slurm}
start=$(date +%s.%N)

if [ "$(id -u)" != 0 ]; then
    echo "slurm_up: must run as root (it starts munged and the slurm daemons)" >&2
    exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

if [ -s "$ROOT/pids" ] && xargs -r kill -0 <"$ROOT/pids" 2>/dev/null; then
    echo "slurm_up: already running ($ROOT/pids)"
    exit 0
fi

mkdir -p "$ROOT"/{state,spool,log,run}
chown slurm:slurm "$ROOT"/{state,log,run}
chmod 755 "$ROOT"
host=$(hostname -s)
# e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
node=$(slurmd -C | head -n 1 | sed -E 's/ RealMemory=[0-9]+//')

cat >"$ROOT/slurm.conf" <<EOF
# written by .ci/slurm_up.sh: one node, no accounting database
ClusterName=dermsynth
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/run/slurmctld.pid
SlurmdPidFile=$ROOT/run/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# finished jobs stay visible to squeue this long: the executor's status command (no sacct here)
MinJobAge=600
ReturnToService=2
GresTypes=gpu
# the rules ask for paper-scale memory (tens of GB); nothing enforces it on this test node, so
# the node declares more than it has and slurmd keeps the declared values
SlurmdParameters=config_overrides
$node RealMemory=262144 Gres=gpu:1 NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# a fake GPU: the scheduler counts it, jobs get CUDA_VISIBLE_DEVICES, torch still sees no GPU
echo "NodeName=$host Name=gpu File=/dev/null" >"$ROOT/gres.conf"
# At the default path, as on a real cluster: srun inside a job step does not see SLURM_CONF
# (the executor's job step clears SLURM_* variables). Never overwrite a slurm.conf not ours.
for conf in slurm.conf gres.conf; do
    if [ -e "/etc/slurm/$conf" ] && ! grep -q "^# written by .ci/slurm_up.sh" "/etc/slurm/$conf" \
        && [ "$conf" = slurm.conf ]; then
        echo "slurm_up: /etc/slurm/slurm.conf exists and is not ours; not touching it" >&2
        exit 1
    fi
done
mkdir -p /etc/slurm
(echo "# written by .ci/slurm_up.sh"; cat "$ROOT/gres.conf") >/etc/slurm/gres.conf
cp "$ROOT/slurm.conf" /etc/slurm/slurm.conf
export SLURM_CONF=/etc/slurm/slurm.conf
echo "export SLURM_CONF=$SLURM_CONF" >"$ROOT/env"

# munged: reuse a running one (its socket answers), else start our own as the munge user
if ! munge -n >/dev/null 2>&1; then
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge
    [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create >/dev/null 2>&1 \
        || runuser -u munge -- /usr/sbin/create-munge-key -f
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
    cat /run/munge/munged.pid >"$ROOT/munged.pid"
fi
munge -n | unmunge >/dev/null

rm -f "$ROOT"/run/*.pid
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

fail() {
    echo "slurm_up: $1" >&2
    tail -n 20 "$ROOT"/log/*.log >&2 || true
    exit 1
}
for _ in $(seq 100); do
    [ -s "$ROOT/run/slurmctld.pid" ] && [ -s "$ROOT/run/slurmd.pid" ] && break
    sleep 0.1
done
cat "$ROOT"/run/slurmctld.pid "$ROOT"/run/slurmd.pid "$ROOT"/munged.pid 2>/dev/null >"$ROOT/pids" \
    || fail "a daemon wrote no pid file"
state=""
for _ in $(seq 150); do
    state=$(sinfo -h -N -o %T 2>/dev/null | head -n 1)
    case "$state" in idle | mixed | allocated) break ;; esac
    sleep 0.2
done
case "$state" in
    idle | mixed | allocated) ;;
    *) fail "node state is '${state:-none}' after 30 s" ;;
esac
echo "slurm_up: node $host $state, up in $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $start}") s ($ROOT)"
