fn main() -> std::process::ExitCode {
    anprd::heap::release_large_blocks();
    anprd::cli::main()
}
