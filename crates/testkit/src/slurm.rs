//! A single-node Slurm cluster on loopback.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::daemon::{self, Account};

/// slurmctld + slurmd + a private munged, private to this test process. One partition,
/// `debug`, with this host's CPUs; jobs run as the submitting user (root in CI).
pub struct Slurm {
    dir: PathBuf,
    conf: PathBuf,
}

impl Slurm {
    /// The cluster of this test process, started on first use.
    pub fn shared() -> &'static Slurm {
        static CLUSTER: OnceLock<Slurm> = OnceLock::new();
        CLUSTER.get_or_init(Slurm::start)
    }

    fn start() -> Self {
        assert!(
            daemon::is_root(),
            "the Slurm tests need root: slurmd launches each job as its submitting user"
        );
        let munged = daemon::find_binary(&[PathBuf::from("/usr/sbin/munged")], "munge");
        let slurmctld = daemon::find_binary(&[PathBuf::from("/usr/sbin/slurmctld")], "slurm-wlm");
        let slurmd = daemon::find_binary(&[PathBuf::from("/usr/sbin/slurmd")], "slurm-wlm");

        let dir = daemon::scratch_dir("slurm");
        let socket = start_munged(&munged, &dir);
        for sub in ["state", "spool", "log"] {
            fs::create_dir_all(dir.join(sub)).expect("the scratch directory is writable");
        }
        let conf = dir.join("slurm.conf");
        fs::write(&conf, slurm_conf(&dir, &socket)).expect("the scratch directory is writable");

        let log = dir.join("log");
        for (binary, name) in [(&slurmctld, "slurmctld"), (&slurmd, "slurmd")] {
            let mut daemon_command = Command::new(binary);
            daemon_command.arg("-D").arg("-f").arg(&conf);
            daemon::spawn_daemon(
                daemon_command,
                None,
                &log.join(format!("{name}.stdout.log")),
            );
        }
        let cluster = Self { dir, conf };
        daemon::wait_until(
            "Slurm (slurmctld + slurmd, node idle)",
            Duration::from_secs(60),
            &log.join("slurmd.log"),
            || {
                cluster
                    .command("sinfo")
                    .args(["-h", "-o", "%t"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
            },
        );
        cluster
    }

    /// The `slurm.conf` clients must use (`SLURM_CONF`).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The cluster's scratch directory (daemon logs are under `log/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A Slurm client command (`sbatch`, `squeue`, `scancel`, …) aimed at this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }
}

/// munged as `munge`, with its own key and socket; returns the socket's path.
fn start_munged(munged: &Path, dir: &Path) -> PathBuf {
    let account = Account::named("munge", "munge");
    let home = dir.join("munge");
    fs::create_dir_all(&home).expect("the scratch directory is writable");
    account.own(&home);
    // munged insists that every user can reach its socket's directory, and no one else its key.
    daemon::set_mode(&home, 0o711);
    let key = home.join("munge.key");
    let mut bytes = vec![0u8; 1024];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .expect("/dev/urandom is readable");
    fs::write(&key, bytes).expect("the scratch directory is writable");
    account.own(&key);
    daemon::set_mode(&key, 0o400);

    let socket = home.join("munge.socket");
    let mut command = Command::new(munged);
    command
        .arg("-F")
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--key-file={}", key.display()))
        .arg(format!("--pid-file={}", home.join("munged.pid").display()))
        .arg(format!("--log-file={}", home.join("munged.log").display()))
        .arg(format!(
            "--seed-file={}",
            home.join("munged.seed").display()
        ));
    let log = dir.join("munged.stdout.log");
    daemon::spawn_daemon(command, Some(account), &log);
    daemon::wait_until("munged", Duration::from_secs(30), &log, || socket.exists());
    socket
}

/// The smallest configuration that runs job arrays on this host: no cgroups (processes are
/// tracked through /proc), no accounting, CPUs as consumable resources so tasks run side by
/// side, a 5 s grace between SIGTERM and SIGKILL on cancellation.
fn slurm_conf(dir: &Path, munge_socket: &Path) -> String {
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| {
            h.trim()
                .split('.')
                .next()
                .unwrap_or("localhost")
                .to_string()
        })
        .unwrap_or_else(|_| "localhost".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let d = dir.display();
    format!(
        "ClusterName=tagscale-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={socket}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
KillWait=5
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
",
        ctld_port = daemon::free_port(),
        d_port = daemon::free_port(),
        socket = munge_socket.display(),
    )
}
