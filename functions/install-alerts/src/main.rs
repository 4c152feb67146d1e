//! install-alerts: planned (see the README). Until it lands, the binary runs the shared placeholder loop, which
//! validates the shared settings and refuses every event with `Permanent.NotImplemented`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    patchpilot_shared::placeholder::run("install-alerts").await
}
