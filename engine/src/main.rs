//! The `coregate` binary: flags and config in, a running gateway out.
//!
//! This is the only place `anyhow` is used: everything below it returns
//! typed errors.

use std::process::ExitCode;
use std::thread;

use anyhow::Context as _;
use clap::Parser as _;
use engine::Server;
use mimalloc::MiMalloc;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;
use tuning::{Cli, Command, ConfigSource, Tuning};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command.clone() {
        Some(Command::Check { config }) => check(&config),
        Some(cmd @ Command::Report { .. }) => analytics::run_command(&cmd).map_err(Into::into),
        None => run(cli),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("coregate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `coregate check --config FILE`: every error, with file, line and field.
fn check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    match tuning::parse_file(path) {
        Ok(t) => check_tls(path, &t),
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The TLS half of `check`: keys match certificates, chains parse, CA and
/// ticket files load, expiry (a warning within 14 days), names.
fn check_tls(path: &std::path::Path, t: &Tuning) -> anyhow::Result<ExitCode> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let findings = tls::check(t, now);
    for f in &findings {
        eprintln!("{}: {f}", path.display());
    }
    if findings.iter().any(|f| f.level == tls::Level::Error) {
        return Ok(ExitCode::FAILURE);
    }
    println!("{}: ok ({})", path.display(), t.summary());
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let t = Tuning::from_cli(cli.clone())?;
    let watched = match (&t.source, t.reload.watch) {
        (ConfigSource::File(p), true) => Some(p.clone()),
        _ => None,
    };
    let reloadable = matches!(t.source, ConfigSource::File(_));
    // Handlers go in before the listeners open, so a signal that arrives as
    // soon as the port accepts is already a graceful one.
    let signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1]).context("installing signal handlers")?;
    let (source, summary) = (source_name(&t.source), t.summary());
    let schemes: Vec<&str> = (0..t.listen.len())
        .map(|i| {
            if t.listener_tls(i).is_some() {
                "https"
            } else {
                "http"
            }
        })
        .collect();
    let server = Server::start(t)?;
    announce(&server, &schemes, &source, &summary);
    if reloadable {
        // Re-read the file and re-apply the flags on every reload.
        server.set_reload_source(Box::new(move || Tuning::from_cli(cli.clone())));
    }
    if let Some(path) = watched {
        watch(path, server.control())?;
    }
    handle_signals(signals, &server)?;
    server.wait()?;
    eprintln!("coregate: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Where the configuration came from, for the start-up lines.
fn source_name(source: &ConfigSource) -> String {
    match source {
        ConfigSource::Embedded => "embedded default config".to_string(),
        ConfigSource::Quick => "quick mode".to_string(),
        ConfigSource::File(p) => p.display().to_string(),
    }
}

/// The start-up lines: listeners, settings, admin endpoint.
fn announce(server: &Server, schemes: &[&str], source: &str, summary: &str) {
    for (i, addr) in server.local_addrs().iter().enumerate() {
        let scheme = schemes.get(i).copied().unwrap_or("http");
        println!("coregate: listening on {scheme}://{addr} ({source})");
    }
    println!("coregate: {summary}");
    if let Some(admin) = server.admin_addr() {
        println!("coregate: admin on http://{admin}");
    }
}

/// SIGTERM/SIGINT drain (a second one exits at once), SIGHUP reloads,
/// SIGUSR1 reopens the access log.
fn handle_signals(mut signals: Signals, server: &Server) -> anyhow::Result<()> {
    let stop = server.stop_handle();
    let control = server.control();
    let reopen = server.log_reopener();
    let mut seen = 0;
    let on_signal = move |sig: i32| match sig {
        SIGUSR1 => reopen(),
        // The control thread logs the outcome.
        SIGHUP => drop(control.reload()),
        _ => {
            seen += 1;
            if seen > 1 {
                eprintln!("coregate: second signal, exiting now");
                std::process::exit(1);
            }
            eprintln!("coregate: signal {sig}, draining");
            stop.stop();
        }
    };
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || signals.forever().for_each(on_signal))
        .context("starting the signal thread")?;
    Ok(())
}

/// `--watch-config`: reloads when the file's modification time or size
/// changes (polled once a second; editors that replace the file are seen
/// too). The control thread logs each outcome.
fn watch(path: std::path::PathBuf, control: engine::Control) -> anyhow::Result<()> {
    let stamp = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut last = stamp(&path);
    thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || loop {
            thread::sleep(std::time::Duration::from_secs(1));
            let now = stamp(&path);
            if now.is_some() && now != last {
                last = now;
                let _ = control.reload();
            }
        })
        .context("starting the config watcher")?;
    Ok(())
}
