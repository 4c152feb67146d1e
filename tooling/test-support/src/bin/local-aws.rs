//! `local-aws`: starts LocalStack and moto like the tests do, prints the environment that points AWS
//! SDKs and the CLI at them, and keeps them running until interrupted (or until stdin closes with
//! `--until-stdin-closes`, for scripts).

use std::io::Read;

use patchpilot_test_support::LocalAws;

fn main() {
    let services = match LocalAws::start() {
        Ok(services) => services,
        Err(err) => {
            eprintln!("local-aws: {err}");
            std::process::exit(1);
        }
    };
    println!(
        "export PATCHPILOT_LOCALSTACK_URL={}",
        services.localstack_url
    );
    println!("export PATCHPILOT_DYNAMODB_URL={}", services.dynamodb_url);
    println!("export AWS_ENDPOINT_URL={}", services.localstack_url);
    println!("export AWS_ENDPOINT_URL_DYNAMODB={}", services.dynamodb_url);
    println!("# ready");
    // Runs until stdin closes (the script that started it ended) or the process is killed.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(services);
}
