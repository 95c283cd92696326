//! Test hosts in network namespaces: a "LAN" of namespaces joined by a
//! bridge (itself in a namespace of its own, so nothing touches the host's
//! network), with multicast routed, so that mDNS and real partitions
//! (link down) can be tested. Needs root and iproute2; `Lan::create`
//! returns `None` (and the test skips with a message) where that fails.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One test host.
pub struct Host {
    /// Its namespace (pass to `NodeSpec::netns`).
    pub ns: String,
    /// Its address on the LAN.
    pub ip: String,
    /// Its interface on the LAN (for `link set down`).
    pub dev: String,
}

/// Namespaces on a bridge; removed on drop.
pub struct Lan {
    pub hosts: Vec<Host>,
    namespaces: Vec<String>,
    etc_dirs: Vec<String>,
}

/// A unique short prefix for this process and call (interface names are
/// limited to 15 bytes).
fn prefix() -> String {
    format!(
        "f{}x{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

impl Lan {
    /// `n` hosts at 10.231.0.1 … 10.231.0.n on one bridge, or `None`
    /// (with the reason printed) where namespaces cannot be made.
    pub fn create(n: usize) -> Option<Lan> {
        let p = prefix();
        let mut lan = Lan {
            hosts: Vec::new(),
            namespaces: Vec::new(),
            etc_dirs: Vec::new(),
        };
        match lan.build(&p, n) {
            Ok(()) => Some(lan),
            Err(e) => {
                eprintln!("SKIPPED: cannot create network namespaces here ({e})");
                None
            }
        }
    }

    fn add_ns(&mut self, ns: &str) -> Result<(), String> {
        ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_owned());
        ip(&["-n", ns, "link", "set", "lo", "up"])
    }

    fn build(&mut self, p: &str, n: usize) -> Result<(), String> {
        let sw = format!("{p}sw");
        self.add_ns(&sw)?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for i in 1..=n {
            let ns = format!("{p}h{i}");
            let (dev, peer) = (format!("{p}v{i}"), format!("{p}p{i}"));
            self.add_ns(&ns)?;
            ip(&[
                "link", "add", &dev, "netns", &ns, "type", "veth", "peer", "name", &peer, "netns",
                &sw,
            ])?;
            ip(&["-n", &sw, "link", "set", &peer, "master", "br0", "up"])?;
            let addr = format!("10.231.0.{i}");
            ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", &dev])?;
            ip(&["-n", &ns, "link", "set", &dev, "up"])?;
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", &dev])?;
            self.hosts.push(Host { ns, ip: addr, dev });
        }
        Ok(())
    }

    /// A single namespace (loopback only) whose `/etc/hosts` is `hosts`
    /// (`ip netns exec` bind-mounts `/etc/netns/<ns>/hosts`).
    pub fn with_hosts_file(hosts: &str) -> Option<(Lan, String)> {
        let p = prefix();
        let ns = format!("{p}dns");
        let mut lan = Lan {
            hosts: Vec::new(),
            namespaces: Vec::new(),
            etc_dirs: Vec::new(),
        };
        let result = lan.add_ns(&ns).and_then(|()| {
            let dir = format!("/etc/netns/{ns}");
            std::fs::create_dir_all(&dir).map_err(|e| format!("{dir}: {e}"))?;
            lan.etc_dirs.push(dir.clone());
            std::fs::write(format!("{dir}/hosts"), hosts).map_err(|e| format!("{dir}/hosts: {e}"))
        });
        match result {
            Ok(()) => Some((lan, ns)),
            Err(e) => {
                eprintln!("SKIPPED: cannot create network namespaces here ({e})");
                None
            }
        }
    }

    /// Takes host `i`'s link down (a partition) or up again.
    pub fn set_link(&self, i: usize, up: bool) {
        let host = &self.hosts[i];
        ip(&[
            "-n",
            &host.ns,
            "link",
            "set",
            &host.dev,
            if up { "up" } else { "down" },
        ])
        .expect("set link");
        if up {
            // The multicast route goes with the link; put it back.
            let _ = ip(&[
                "-n",
                &host.ns,
                "route",
                "replace",
                "224.0.0.0/4",
                "dev",
                &host.dev,
            ]);
        }
    }
}

impl Lan {
    /// Splits the LAN in two: the hosts in `group` move to a second bridge
    /// (the others stay on the first), so each side still sees its own
    /// members and nothing of the other. [`Lan::heal`] undoes it.
    pub fn split(&self, group: &[usize]) {
        let sw = self.namespaces[0].as_str();
        let _ = ip(&["-n", sw, "link", "add", "br1", "type", "bridge"]);
        ip(&["-n", sw, "link", "set", "br1", "up"]).expect("second bridge up");
        for &i in group {
            let port = self.port(i);
            ip(&["-n", sw, "link", "set", &port, "master", "br1"]).expect("move host");
        }
    }

    /// Puts every host back on the first bridge.
    pub fn heal(&self) {
        let sw = self.namespaces[0].as_str();
        for i in 0..self.hosts.len() {
            let port = self.port(i);
            ip(&["-n", sw, "link", "set", &port, "master", "br0"]).expect("move host back");
        }
    }

    /// Host `i`'s port on the switch.
    fn port(&self, i: usize) -> String {
        // Hosts are `<p>h<n>` with ports `<p>p<n>`.
        let ns = &self.hosts[i].ns;
        let (p, n) = ns.rsplit_once('h').expect("host namespace name");
        format!("{p}p{n}")
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
        for dir in &self.etc_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
