fn main() -> std::process::ExitCode {
    yagona_server::cli::main()
}
