fn main() -> std::process::ExitCode {
    anprd::cli::main()
}
