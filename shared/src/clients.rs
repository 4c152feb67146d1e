//! The one SDK configuration every client is built from, once, at cold start.
//!
//! `aws_config::defaults(BehaviorVersion::latest())` honours the standard `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>` variables, which is how tests point the unchanged clients at LocalStack
//! and the SSM simulator. There is no test-only branch here.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{CommonConfig, RetryMode};

/// The retry policy the settings ask for.
pub fn retry_config(config: &CommonConfig) -> RetryConfig {
    let base = match config.retry_mode {
        RetryMode::Standard => RetryConfig::standard(),
        RetryMode::Adaptive => RetryConfig::adaptive(),
    };
    base.with_max_attempts(config.retry_max_attempts)
}

/// Loads the shared SDK configuration (region, credentials, endpoints, retries).
pub async fn load_sdk_config(config: &CommonConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config(config))
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode as SdkRetryMode;

    #[test]
    fn retry_policy_follows_the_settings() {
        let mut config = CommonConfig {
            dry_run: false,
            retry_mode: RetryMode::Standard,
            retry_max_attempts: 7,
            deadline_margin: None,
        };
        let retry = retry_config(&config);
        assert_eq!(retry.mode(), SdkRetryMode::Standard);
        assert_eq!(retry.max_attempts(), 7);
        config.retry_mode = RetryMode::Adaptive;
        assert_eq!(retry_config(&config).mode(), SdkRetryMode::Adaptive);
    }
}
