pub fn run(_p: &crate::output::Printer, _a: &crate::cli::ReconcileArgs) -> super::Outcome {
    todo!()
}
