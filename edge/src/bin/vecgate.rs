//! The native `vecgate` binary: see `vecgate --help`.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = vecgate_edge::native::cli::Cli::parse();
    if let Err(e) = vecgate_edge::native::cli::run(cli).await {
        eprintln!("vecgate: {e}");
        std::process::exit(1);
    }
}
