//! The four listeners, bound before anything loads (a port in use fails at once), and the line
//! that says where they answer — once, when they do.

use std::cell::Cell;
use std::net::SocketAddr;

use anyhow::Context;

use crate::cli::ServeArgs;

pub struct Listeners {
    pub admin: std::net::TcpListener,
    pub proxy: tokio::net::TcpListener,
    pub https: tokio::net::TcpListener,
    pub portal: std::net::TcpListener,
}

/// Where the listeners answer, said once.
pub struct Announcer {
    /// `(name, address)`: admin API, proxy, https, portal.
    pub listening: [(&'static str, SocketAddr); 4],
    announced: Cell<bool>,
}

fn std_listener(addr: SocketAddr, name: &str) -> anyhow::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .with_context(|| format!("cannot listen on {addr} ({name})"))
}

/// `http://127.0.0.1:port` for a listener: an address that answers from this machine.
pub fn local_url(listener: SocketAddr) -> String {
    let ip = match listener.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listener.port()))
}

impl Listeners {
    pub fn bind(args: &ServeArgs) -> anyhow::Result<(Listeners, Announcer)> {
        // The admin and portal listeners are registered with the admin runtime's reactor by the
        // tasks that serve them.
        let admin = std_listener(args.admin_addr, "admin")?;
        let proxy = komainu_proxy::bind(args.http_addr)
            .with_context(|| format!("cannot listen on {} (proxy)", args.http_addr))?;
        let https = komainu_proxy::bind(args.https_addr)
            .with_context(|| format!("cannot listen on {} (proxy, TLS)", args.https_addr))?;
        let portal = std_listener(args.portal_addr, "portal")?;
        let listening = [
            ("admin API", admin.local_addr()?),
            ("proxy", proxy.local_addr()?),
            ("https", https.local_addr()?),
            ("portal", portal.local_addr()?),
        ];
        let announcer = Announcer {
            listening,
            announced: Cell::new(false),
        };
        Ok((
            Listeners {
                admin,
                proxy,
                https,
                portal,
            },
            announcer,
        ))
    }
}

impl Announcer {
    /// Says where each listener answers, the first time only (early when the store makes the
    /// node wait: the listeners answer meanwhile).
    pub fn announce(&self) {
        if self.announced.replace(true) {
            return;
        }
        for (name, addr) in &self.listening {
            tracing::info!(%addr, "{name} listening");
        }
        let url = |i: usize| local_url(self.listening[i].1);
        tracing::info!(
            "admin UI: {}/ui/ · developer portal: {}/ · proxy: {}/",
            url(0),
            url(3),
            url(1)
        );
    }
}
