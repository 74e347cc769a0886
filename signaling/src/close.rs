/// WebSocket close codes the worker uses (RFC 6455 application range 4000-4999, except 1000).
///
/// | code | meaning                                | error code sent first            |
/// |------|----------------------------------------|----------------------------------|
/// | 1000 | left (after `leave`)                   | -                                |
/// | 4400 | bad request: invalid room id in the URL, or too many invalid messages | `invalid-room-id`, `too-many-errors` |
/// | 4403 | origin not allowed                     | `origin-not-allowed`             |
/// | 4408 | no join in time, or idle too long      | `join-timeout`, `idle-timeout`   |
/// | 4409 | peer id already in the room            | `duplicate-peer`                 |
/// | 4413 | frame larger than the limit            | `message-too-large`              |
/// | 4429 | rate limit exceeded                    | `rate-limited`                   |
/// | 4500 | internal error                         | `internal`                       |
/// | 4503 | room full / presence at capacity       | `room-full`, `presence-full`     |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    Left,
    BadRequest,
    OriginNotAllowed,
    Timeout,
    DuplicatePeer,
    TooLarge,
    RateLimited,
    Internal,
    Full,
}

impl CloseCode {
    /// The numeric close code.
    pub const fn code(self) -> u16 {
        match self {
            Self::Left => 1000,
            Self::BadRequest => 4400,
            Self::OriginNotAllowed => 4403,
            Self::Timeout => 4408,
            Self::DuplicatePeer => 4409,
            Self::TooLarge => 4413,
            Self::RateLimited => 4429,
            Self::Internal => 4500,
            Self::Full => 4503,
        }
    }

    /// A short fixed reason (no user data; well under the 123-byte limit).
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::BadRequest => "bad request",
            Self::OriginNotAllowed => "origin not allowed",
            Self::Timeout => "timeout",
            Self::DuplicatePeer => "duplicate peer id",
            Self::TooLarge => "message too large",
            Self::RateLimited => "rate limited",
            Self::Internal => "internal error",
            Self::Full => "full",
        }
    }
}
