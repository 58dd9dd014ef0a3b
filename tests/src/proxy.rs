//! A TCP proxy between vecgate and Postgres that fails the way networks do, on demand: replies
//! lost after the server acted on the request, every connection cut and refused, or traffic held
//! with the connections open. Its upstream can be moved (a failover's new host behind one name).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Passes everything both ways.
    Pass = 0,
    /// Passes requests to the server, then cuts the connection at the first byte of its
    /// answer, unseen: the server has acted (committed) and the client never hears so.
    LoseReplies = 1,
    /// Cuts every open connection and refuses new ones.
    Refuse = 2,
    /// Holds every byte both ways, connections open, until the mode changes: a stalled network.
    Stall = 3,
}

struct Shared {
    mode: AtomicU8,
    upstream: AtomicU16,
    stop: AtomicBool,
    /// Both ends of every connection, to cut them.
    open: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Acquire) {
            0 => Mode::Pass,
            1 => Mode::LoseReplies,
            2 => Mode::Refuse,
            _ => Mode::Stall,
        }
    }

    /// Waits while the traffic is held; whether it may then flow.
    fn flowing(&self) -> bool {
        while self.mode() == Mode::Stall && !self.stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
        }
        !self.stop.load(Ordering::Acquire)
    }

    fn cut_all(&self) {
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Listens on 127.0.0.1 and forwards to `127.0.0.1:<upstream>`. Stopped on drop.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(Mode::Pass as u8),
            upstream: AtomicU16::new(upstream),
            stop: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(client) = client else { continue };
                if accepting.mode() == Mode::Refuse {
                    continue;
                }
                let upstream = accepting.upstream.load(Ordering::Acquire);
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                connect_pair(&accepting, client, server);
            }
        });
        Proxy { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `url` (a `postgres://…@127.0.0.1:<port>/…` URL) through this proxy.
    pub fn url(&self, url: &str, upstream: u16) -> String {
        let direct = format!("127.0.0.1:{upstream}/");
        assert!(url.contains(&direct), "{url} is not on port {upstream}");
        url.replace(&direct, &format!("127.0.0.1:{}/", self.port))
    }

    /// Forwards new connections to `127.0.0.1:<upstream>` and cuts the open ones.
    pub fn set_upstream(&self, upstream: u16) {
        self.shared.upstream.store(upstream, Ordering::Release);
        self.shared.cut_all();
    }

    pub fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::Release);
        if mode == Mode::Refuse {
            self.shared.cut_all();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.cut_all();
        // Wakes the accept loop so it sees `stop`.
        let _ =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
    }
}

fn connect_pair(shared: &Arc<Shared>, client: TcpStream, server: TcpStream) {
    let (Ok(client_back), Ok(server_back)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    {
        let mut open = shared.open.lock().unwrap();
        if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
            open.extend([c, s]);
        }
    }
    let cut = |a: &TcpStream, b: &TcpStream| {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };
    // Requests: passed while the connection lives (held while stalled).
    let requests = shared.clone();
    std::thread::spawn(move || {
        let (mut from, mut to) = (client, server);
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !requests.flowing() || to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        cut(&from, &to);
    });
    // Answers: passed, or the connection is cut at the first one.
    let shared = shared.clone();
    std::thread::spawn(move || {
        let (mut from, mut to) = (server_back, client_back);
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !shared.flowing()
                        || shared.mode() != Mode::Pass
                        || to.write_all(&buf[..n]).is_err()
                    {
                        break;
                    }
                }
            }
        }
        cut(&from, &to);
    });
}
