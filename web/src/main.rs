//! The `vaidya` binary.

use std::process::ExitCode;

use clap::Parser;
use vaidya_web::app::{App, bind};
use vaidya_web::config::{Cli, Command};
use vaidya_web::{ServeConfig, demo, telemetry};

/// glibc's malloc took a fifth of the server's CPU under load (many small, short-lived allocations across threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { command: Command::Serve(config) } = Cli::parse();
    telemetry::init(config.log_format, &config.log);
    match serve(*config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vaidya: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServeConfig) -> Result<(), Box<dyn std::error::Error>> {
    let app = App::build(&config).await?;
    if config.demo {
        let logins = demo::seed(&app.registry, &app.router).await?;
        println!("Demo world ready. Logins (password shown beside each):");
        for l in &logins {
            println!("  {:<10} {:<22} {:<18} {}", l.role, l.username, l.password, l.note);
        }
    }
    let listener = bind(config.listen).await?;
    let backend = format!("{:?}", app.registry.db.backend()).to_lowercase();
    tracing::info!(listen = %listener.local_addr()?, db.backend = %backend, redis = config.redis_url.is_some(), "vaidya listening");
    println!("vaidya listening on http://{}", listener.local_addr()?);
    app.serve(listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
