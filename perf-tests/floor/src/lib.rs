//! The raw io_uring forwarder's state machine (see main.rs): completion-based recv/send SQEs, no poll.
//! Benchmark reference only, not coregate code: it panics on setup errors
//! and trusts the kernel, which is fine for a floor measurement.
use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};

const BUF: usize = 16 * 1024; // per-direction buffer (plain mode)
const PB_SIZE: usize = 4096; // provided buffer size (multi mode)
const PB_COUNT: u16 = 2048; // provided buffers (power of two)
const BGID: u16 = 0;
const MAXCONN: usize = 8192;

const OP_ACCEPT: u64 = 1;
const OP_RECV0: u64 = 2; // recv on fd[0] (client)  ; +s
const OP_SEND0: u64 = 4; // send data read from fd[0] to fd[1] ; +s

const CQE_F_BUFFER: u32 = 1;
const CQE_F_MORE: u32 = 2;
const RECVSEND_POLL_FIRST: u16 = 1;

#[inline]
fn ud(idx: usize, gn: u16, bid: u16, op: u64) -> u64 {
    ((idx as u64) << 40) | ((gn as u64) << 24) | ((bid as u64) << 8) | op
}

struct Conn {
    fd: [RawFd; 2],
    gn: u16,
    inflight: u32,
    closing: bool,
    buf: [Box<[u8]>; 2], // plain mode: per-direction buffer
    len: [usize; 2],     // plain mode: bytes in buffer
    sent: [usize; 2],
}

pub struct Opts {
    pub multi: bool,
    pub fixed: bool,
    pub pollfirst: bool,
}

struct BufRing {
    ring: *mut types::BufRingEntry,
    tail: u16,
    mem: *mut u8,
    blen: Vec<u32>, // per bid: bytes received
    boff: Vec<u32>, // per bid: bytes already sent
}

impl BufRing {
    fn new(ring_: &IoUring) -> BufRing {
        let ring_bytes = PB_COUNT as usize * std::mem::size_of::<types::BufRingEntry>();
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        assert!(ring != libc::MAP_FAILED);
        let mem = vec![0u8; PB_SIZE * PB_COUNT as usize].leak().as_mut_ptr();
        let mut br = BufRing {
            ring: ring as *mut _,
            tail: 0,
            mem,
            blen: vec![0; PB_COUNT as usize],
            boff: vec![0; PB_COUNT as usize],
        };
        unsafe {
            ring_
                .submitter()
                .register_buf_ring_with_flags(ring as u64, PB_COUNT, BGID, 0)
                .expect("register_buf_ring");
        }
        for bid in 0..PB_COUNT {
            br.put(bid);
        }
        br.publish();
        br
    }
    #[inline]
    fn addr(&self, bid: u16) -> *mut u8 {
        unsafe { self.mem.add(bid as usize * PB_SIZE) }
    }
    #[inline]
    fn put(&mut self, bid: u16) {
        let e = unsafe { &mut *self.ring.add((self.tail & (PB_COUNT - 1)) as usize) };
        e.set_addr(self.addr(bid) as u64);
        e.set_len(PB_SIZE as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }
    #[inline]
    fn publish(&self) {
        unsafe {
            let t = types::BufRingEntry::tail(self.ring) as *const AtomicU16;
            (*t).store(self.tail, Ordering::Release);
        }
    }
}

pub struct St {
    pub ring: IoUring,
    o: Opts,
    conns: Vec<Option<Conn>>,
    gns: Vec<u16>,
    free: Vec<usize>,
    lfd: RawFd,
    upstream: String,
    br: Option<BufRing>,
    cqes: Vec<(u64, i32, u32)>,
}

macro_rules! target {
    ($st:expr, $idx:expr, $s:expr, $fd:expr, |$t:ident| $body:expr) => {
        if $st.o.fixed {
            let $t = types::Fixed(($idx * 2 + $s) as u32);
            $body
        } else {
            let $t = types::Fd($fd);
            $body
        }
    };
}

impl St {
    #[inline]
    fn push(&mut self, e: squeue::Entry) {
        loop {
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                return;
            }
            self.ring.submit().expect("submit");
        }
    }

    pub fn arm_accept(&mut self) {
        let e = opcode::AcceptMulti::new(types::Fd(self.lfd))
            .build()
            .user_data(OP_ACCEPT);
        self.push(e);
    }

    fn arm_recv(&mut self, idx: usize, s: usize) {
        let c = self.conns[idx].as_mut().unwrap();
        let (fd, gn) = (c.fd[s], c.gn);
        let u = ud(idx, gn, 0, OP_RECV0 + s as u64);
        let e = if self.o.multi {
            target!(self, idx, s, fd, |t| opcode::RecvMulti::new(t, BGID)
                .build())
        } else {
            let p = c.buf[s].as_mut_ptr();
            let prio = if self.o.pollfirst {
                RECVSEND_POLL_FIRST
            } else {
                0
            };
            target!(self, idx, s, fd, |t| opcode::Recv::new(t, p, BUF as u32)
                .ioprio(prio)
                .build())
        };
        self.conns[idx].as_mut().unwrap().inflight += 1;
        self.push(e.user_data(u));
    }

    /// send buf[..len] of direction s (read from fd[s]) to fd[1-s]
    fn send(&mut self, idx: usize, s: usize, p: *const u8, len: usize, bid: u16) {
        let c = self.conns[idx].as_mut().unwrap();
        c.inflight += 1;
        let (fd, gn) = (c.fd[1 - s], c.gn);
        let e = target!(self, idx, 1 - s, fd, |t| opcode::Send::new(
            t, p, len as u32
        )
        .flags(libc::MSG_NOSIGNAL)
        .build());
        self.push(e.user_data(ud(idx, gn, bid, OP_SEND0 + s as u64)));
    }

    fn new_conn(&mut self, cfd: RawFd) {
        let one: libc::c_int = 1;
        unsafe {
            libc::setsockopt(
                cfd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &one as *const _ as *const _,
                4,
            );
        }
        let ufd = match TcpStream::connect(&self.upstream) {
            Ok(s) => {
                s.set_nodelay(true).unwrap();
                s.into_raw_fd()
            }
            Err(e) => {
                eprintln!("connect upstream: {e}");
                unsafe { libc::close(cfd) };
                return;
            }
        };
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                assert!(self.conns.len() < MAXCONN, "too many conns");
                self.conns.push(None);
                self.gns.push(0);
                self.conns.len() - 1
            }
        };
        let gn = self.gns[idx];
        let (b0, b1) = if self.o.multi {
            (Box::<[u8]>::default(), Box::<[u8]>::default())
        } else {
            (
                vec![0u8; BUF].into_boxed_slice(),
                vec![0u8; BUF].into_boxed_slice(),
            )
        };
        self.conns[idx] = Some(Conn {
            fd: [cfd, ufd],
            gn,
            inflight: 0,
            closing: false,
            buf: [b0, b1],
            len: [0; 2],
            sent: [0; 2],
        });
        if self.o.fixed {
            self.ring
                .submitter()
                .register_files_update((idx * 2) as u32, &[cfd, ufd])
                .expect("register_files_update");
        }
        self.arm_recv(idx, 0);
        self.arm_recv(idx, 1);
    }

    fn start_close(&mut self, idx: usize) {
        let c = self.conns[idx].as_mut().unwrap();
        if !c.closing {
            c.closing = true;
            unsafe {
                libc::shutdown(c.fd[0], libc::SHUT_RDWR);
                libc::shutdown(c.fd[1], libc::SHUT_RDWR);
            }
        }
    }

    fn op_done(&mut self, idx: usize) {
        let c = self.conns[idx].as_mut().unwrap();
        c.inflight -= 1;
        if c.closing && c.inflight == 0 {
            let c = self.conns[idx].take().unwrap();
            if self.o.fixed {
                let _ = self
                    .ring
                    .submitter()
                    .register_files_update((idx * 2) as u32, &[-1, -1]);
            }
            unsafe {
                libc::close(c.fd[0]);
                libc::close(c.fd[1]);
            }
            self.gns[idx] = self.gns[idx].wrapping_add(1);
            self.free.push(idx);
        }
    }

    fn cqe(&mut self, u: u64, res: i32, flags: u32) {
        let op = u & 0xff;
        if op == OP_ACCEPT {
            if res >= 0 {
                self.new_conn(res);
            } else {
                eprintln!("accept: {}", io::Error::from_raw_os_error(-res));
            }
            if flags & CQE_F_MORE == 0 {
                self.arm_accept();
            }
            return;
        }
        let idx = (u >> 40) as usize;
        let gn = (u >> 24) as u16;
        let bid = (u >> 8) as u16;
        let live = matches!(self.conns.get(idx), Some(Some(c)) if c.gn == gn);
        if !live {
            // should not happen: every op of a conn completes before its slot is freed
            if flags & CQE_F_BUFFER != 0 {
                let br = self.br.as_mut().unwrap();
                br.put((flags >> 16) as u16);
            }
            return;
        }
        if op == OP_RECV0 || op == OP_RECV0 + 1 {
            let s = (op - OP_RECV0) as usize;
            let more = self.o.multi && flags & CQE_F_MORE != 0;
            if res > 0 && !self.conns[idx].as_ref().unwrap().closing {
                if self.o.multi {
                    let b = (flags >> 16) as u16;
                    let br = self.br.as_mut().unwrap();
                    br.blen[b as usize] = res as u32;
                    br.boff[b as usize] = 0;
                    let p = br.addr(b);
                    self.send(idx, s, p, res as usize, b);
                    if !more {
                        // multishot terminated (e.g. ENOBUFS/overflow): re-arm
                        self.conns[idx].as_mut().unwrap().inflight -= 1;
                        self.arm_recv(idx, s);
                    }
                } else {
                    let c = self.conns[idx].as_mut().unwrap();
                    c.len[s] = res as usize;
                    c.sent[s] = 0;
                    let p = c.buf[s].as_ptr();
                    self.send(idx, s, p, res as usize, 0);
                    self.op_done(idx);
                }
                return;
            }
            if flags & CQE_F_BUFFER != 0 {
                self.br.as_mut().unwrap().put((flags >> 16) as u16);
            }
            if res == -libc::ENOBUFS && !self.conns[idx].as_ref().unwrap().closing {
                eprintln!("ENOBUFS");
                if !more {
                    self.conns[idx].as_mut().unwrap().inflight -= 1;
                    self.arm_recv(idx, s);
                }
                return;
            }
            // EOF, error, or data after close started
            self.start_close(idx);
            if !more {
                self.op_done(idx);
            }
            return;
        }
        // send completion, direction s
        let s = (op - OP_SEND0) as usize;
        let closing = self.conns[idx].as_ref().unwrap().closing;
        if res < 0 || closing {
            if self.o.multi {
                self.br.as_mut().unwrap().put(bid);
            }
            self.start_close(idx);
            self.op_done(idx);
            return;
        }
        if self.o.multi {
            let br = self.br.as_mut().unwrap();
            br.boff[bid as usize] += res as u32;
            let (off, len) = (br.boff[bid as usize], br.blen[bid as usize]);
            if off < len {
                let p = unsafe { br.addr(bid).add(off as usize) };
                self.send(idx, s, p, (len - off) as usize, bid);
            } else {
                br.put(bid);
            }
            self.op_done(idx);
        } else {
            let c = self.conns[idx].as_mut().unwrap();
            c.sent[s] += res as usize;
            if c.sent[s] < c.len[s] {
                let p = unsafe { c.buf[s].as_ptr().add(c.sent[s]) };
                let n = c.len[s] - c.sent[s];
                self.send(idx, s, p, n, 0);
            } else {
                self.arm_recv(idx, s);
            }
            self.op_done(idx);
        }
    }
}

impl St {
    /// ring setup from an option string (see bin/ur.rs), bind listener, arm multishot accept
    pub fn new(listen: &str, upstream: &str, optstr: &str) -> St {
        let has = |k: &str| optstr.split(',').any(|x| x == k);
        let o = Opts {
            multi: has("multi"),
            fixed: has("fixed"),
            pollfirst: has("pollfirst"),
        };
        let mut b = IoUring::builder();
        if has("plainsetup") {
        } else if has("nodefer") {
            b.setup_single_issuer()
                .setup_coop_taskrun()
                .setup_taskrun_flag();
        } else {
            b.setup_single_issuer().setup_defer_taskrun();
        }
        b.setup_cqsize(16384);
        let ring = b.build(4096).expect("io_uring setup");
        let l = TcpListener::bind(listen).expect("bind");
        let lfd = l.into_raw_fd();
        if o.fixed {
            ring.submitter()
                .register_files_sparse((MAXCONN * 2) as u32)
                .expect("register_files_sparse");
        }
        let br = if o.multi {
            Some(BufRing::new(&ring))
        } else {
            None
        };
        let mut st = St {
            ring,
            o,
            conns: Vec::new(),
            gns: Vec::new(),
            free: Vec::new(),
            lfd,
            upstream: upstream.to_string(),
            br,
            cqes: Vec::with_capacity(1024),
        };
        st.arm_accept();
        st
    }

    /// handle every CQE currently visible (and those generated meanwhile); returns how many
    pub fn drain(&mut self) -> usize {
        let mut total = 0;
        loop {
            let mut cq = std::mem::take(&mut self.cqes);
            cq.clear();
            for c in self.ring.completion() {
                cq.push((c.user_data(), c.result(), c.flags()));
            }
            let n = cq.len();
            for &(u, r, f) in &cq {
                self.cqe(u, r, f);
            }
            self.cqes = cq;
            total += n;
            if n == 0 {
                break;
            }
        }
        if let Some(br) = &self.br {
            br.publish();
        }
        total
    }

    /// submit pending SQEs and run deferred task work without blocking (GETEVENTS, min_complete=0)
    pub fn enter_nowait(&mut self) {
        let n = self.ring.submission().len() as u32;
        let r = unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(n, 0, 1 /* GETEVENTS */, None)
        };
        if let Err(e) = r {
            if e.raw_os_error() != Some(libc::EINTR) && e.raw_os_error() != Some(libc::EBUSY) {
                panic!("io_uring_enter: {e}");
            }
        }
    }

    /// submit pending SQEs and block until >= 1 CQE
    pub fn enter_wait(&mut self) {
        match self.ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::EINTR)
                    || e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => panic!("submit_and_wait: {e}"),
        }
    }

    pub fn ring_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// create + register an eventfd the kernel signals when CQEs / deferred task work appear
    pub fn register_eventfd(&self) -> RawFd {
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(efd >= 0);
        self.ring
            .submitter()
            .register_eventfd(efd)
            .expect("register_eventfd");
        efd
    }
}
