//! Paginated reads, page by page, each failure typed as the operation's [`FunctionError`].

use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{FunctionError, HttpStatus};

/// The pages of one paginated call (an SDK paginator's `send()`), counted as they are read.
pub struct Pages<T, E, R> {
    stream: PaginationStream<Result<T, SdkError<E, R>>>,
    operation: &'static str,
    read: usize,
}

impl<T, E, R> Pages<T, E, R>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    /// The pages of `stream`; a failure names `operation` (e.g. `ssm:DescribePatchGroups`).
    pub fn new(
        stream: PaginationStream<Result<T, SdkError<E, R>>>,
        operation: &'static str,
    ) -> Self {
        Self {
            stream,
            operation,
            read: 0,
        }
    }

    /// The next page; `None` after the last one.
    pub async fn next(&mut self) -> Result<Option<T>, FunctionError> {
        match self.stream.next().await {
            None => Ok(None),
            Some(Ok(page)) => {
                self.read += 1;
                Ok(Some(page))
            }
            Some(Err(err)) => Err(FunctionError::aws(self.operation, err)),
        }
    }

    /// Pages read so far.
    pub fn read(&self) -> usize {
        self.read
    }
}
