/// Everything the worker can refuse, with a stable code (`code()`) that goes into `error`
/// messages. Display texts are fixed and never contain user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    // ---- one message, refused by the parser ----
    #[error("message is larger than 65,536 bytes")]
    MessageTooLarge,
    #[error("binary frames are not accepted; send JSON text")]
    BinaryFrame,
    #[error("message is not valid UTF-8")]
    NotUtf8,
    #[error("message is not valid JSON (or nests too deeply)")]
    MalformedJson,
    #[error("message is not a valid protocol message")]
    InvalidMessage,
    #[error("unsupported protocol version; this server speaks v2")]
    UnsupportedVersion,
    #[error("unknown message type")]
    UnknownType,
    #[error("unknown field in message")]
    UnknownField,
    #[error("a field appears more than once")]
    DuplicateField,
    #[error("room id must be 22 to 64 base64url characters")]
    InvalidRoomId,
    #[error("peer id must be 1 to 64 base64url characters")]
    InvalidPeerId,
    #[error("identity must be 1 to 256 base64url characters")]
    InvalidIdentity,
    #[error("payload is larger than 60,000 bytes")]
    PayloadTooLarge,
    #[error("channel id must be 16 to 43 base64url characters")]
    InvalidChannelId,
    #[error("too many channels in one message")]
    TooManyChannels,
    #[error("peer payload is not valid")]
    InvalidPeerPayload,
    // ---- session state, refused by the room or presence logic ----
    #[error("join first")]
    NotJoined,
    #[error("already joined")]
    AlreadyJoined,
    #[error("that peer id is already in the room")]
    DuplicatePeer,
    #[error("the room is full")]
    RoomFull,
    #[error("no such peer in this room")]
    UnknownPeer,
    #[error("too many messages; slow down")]
    RateLimited,
    #[error("no join in time")]
    JoinTimeout,
    #[error("no message in time")]
    IdleTimeout,
    #[error("origin not allowed")]
    OriginNotAllowed,
    #[error("too many invalid messages")]
    TooManyErrors,
    #[error("presence capacity reached")]
    PresenceFull,
    #[error("internal error")]
    Internal,
    // ---- plain HTTP answers ----
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("this endpoint needs a WebSocket upgrade")]
    UpgradeRequired,
    #[error("TURN is not configured on this server")]
    TurnNotConfigured,
}

impl ProtocolError {
    /// Every variant, for tables and tests.
    pub const ALL: [ProtocolError; 32] = [
        Self::MessageTooLarge,
        Self::BinaryFrame,
        Self::NotUtf8,
        Self::MalformedJson,
        Self::InvalidMessage,
        Self::UnsupportedVersion,
        Self::UnknownType,
        Self::UnknownField,
        Self::DuplicateField,
        Self::InvalidRoomId,
        Self::InvalidPeerId,
        Self::InvalidIdentity,
        Self::PayloadTooLarge,
        Self::InvalidChannelId,
        Self::TooManyChannels,
        Self::InvalidPeerPayload,
        Self::NotJoined,
        Self::AlreadyJoined,
        Self::DuplicatePeer,
        Self::RoomFull,
        Self::UnknownPeer,
        Self::RateLimited,
        Self::JoinTimeout,
        Self::IdleTimeout,
        Self::OriginNotAllowed,
        Self::TooManyErrors,
        Self::PresenceFull,
        Self::Internal,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::UpgradeRequired,
        Self::TurnNotConfigured,
    ];

    /// The stable kebab-case code sent in `{"type":"error","code":..}`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::MessageTooLarge => "message-too-large",
            Self::BinaryFrame => "binary-frame",
            Self::NotUtf8 => "not-utf8",
            Self::MalformedJson => "malformed-json",
            Self::InvalidMessage => "invalid-message",
            Self::UnsupportedVersion => "unsupported-version",
            Self::UnknownType => "unknown-type",
            Self::UnknownField => "unknown-field",
            Self::DuplicateField => "duplicate-field",
            Self::InvalidRoomId => "invalid-room-id",
            Self::InvalidPeerId => "invalid-peer-id",
            Self::InvalidIdentity => "invalid-identity",
            Self::PayloadTooLarge => "payload-too-large",
            Self::InvalidChannelId => "invalid-channel-id",
            Self::TooManyChannels => "too-many-channels",
            Self::InvalidPeerPayload => "invalid-peer-payload",
            Self::NotJoined => "not-joined",
            Self::AlreadyJoined => "already-joined",
            Self::DuplicatePeer => "duplicate-peer",
            Self::RoomFull => "room-full",
            Self::UnknownPeer => "unknown-peer",
            Self::RateLimited => "rate-limited",
            Self::JoinTimeout => "join-timeout",
            Self::IdleTimeout => "idle-timeout",
            Self::OriginNotAllowed => "origin-not-allowed",
            Self::TooManyErrors => "too-many-errors",
            Self::PresenceFull => "presence-full",
            Self::Internal => "internal",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::UpgradeRequired => "upgrade-required",
            Self::TurnNotConfigured => "turn-not-configured",
        }
    }

    /// Looks a code up again (for clients reading `error` messages).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }
}
