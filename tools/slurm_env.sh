# Sourced by tools/slurm_check.sh and tools/bench_slurm.sh: a one-node Slurm on this machine (Debian's
# slurm-wlm and munge, as root, no systemd), in a work folder. `slurm_start DIR` installs what is missing,
# writes DIR/slurm.conf (exported as SLURM_CONF), starts munged, slurmctld and slurmd and waits until a
# job runs; `slurm_stop` stops them by their pid files. Partition "test" holds the node with every core.
slurm_start() {
  SLURM_DIR=$1
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm_env: installing slurm-wlm and munge" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; } >/dev/null 2>&1 \
      || { echo "slurm_env: apt-get install slurm-wlm munge failed" >&2; return 1; }
  fi
  local host; host=$(hostname -s)
  mkdir -p "$SLURM_DIR"/{spool,state,log} /etc/munge /run/munge /var/lib/munge /var/log/munge
  [[ -f /etc/munge/munge.key ]] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chmod 400 /etc/munge/munge.key; }
  export SLURM_CONF=$SLURM_DIR/slurm.conf
  cat > "$SLURM_CONF" <<EOF
ClusterName=tomostore
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldLogFile=$SLURM_DIR/log/ctld.log
SlurmdLogFile=$SLURM_DIR/log/d.log
SlurmctldPidFile=$SLURM_DIR/ctld.pid
SlurmdPidFile=$SLURM_DIR/d.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$(nproc) RealMemory=$(( $(free -m | awk '/Mem/{print $2}') - 2048 )) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  munged --force --pid-file="$SLURM_DIR/munged.pid" >/dev/null 2>&1
  slurmctld -f "$SLURM_CONF" >/dev/null 2>&1; sleep 1; slurmd -f "$SLURM_CONF" >/dev/null 2>&1
  for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
  timeout 60 srun -n1 true >/dev/null 2>&1 || { echo "slurm_env: the test Slurm did not start (see $SLURM_DIR/log)" >&2; return 1; }
}

slurm_stop() {
  [[ -n "${SLURM_DIR:-}" ]] || return 0
  kill $(cat "$SLURM_DIR"/d.pid "$SLURM_DIR"/ctld.pid "$SLURM_DIR"/munged.pid 2>/dev/null) 2>/dev/null
  sleep 1
}
