//! 256 short, distinct, common English words (3-4 letters, no two alike), one per byte value,
//! for the spoken form of the safety code. Sorted, so index = byte value.

/// The word list: `WORDS[b]` renders byte `b`.
pub const WORDS: [&str; 256] = [
    "able", "acid", "aged", "also", "area", "army", "away", "baby", "back", "ball", "band", "bank",
    "base", "bath", "bear", "beat", "bell", "belt", "best", "bike", "bird", "blue", "boat", "body",
    "bone", "book", "boot", "born", "boss", "bowl", "busy", "cake", "calm", "camp", "card", "care",
    "cart", "case", "cash", "cast", "cave", "chef", "chin", "city", "clay", "club", "coal", "coat",
    "code", "coin", "cold", "cook", "cool", "copy", "corn", "cost", "crew", "crop", "cube", "cup",
    "dark", "data", "date", "dawn", "deal", "deck", "deep", "deer", "desk", "dial", "diet", "dish",
    "dock", "door", "dose", "down", "draw", "drum", "duck", "dust", "duty", "earn", "east", "easy",
    "echo", "edge", "egg", "envy", "epic", "exit", "face", "fact", "fair", "fall", "farm", "fast",
    "fear", "feet", "file", "film", "fire", "fish", "five", "flag", "flat", "flow", "foam", "fold",
    "food", "foot", "fork", "form", "fort", "four", "frog", "fuel", "full", "fund", "gain", "game",
    "gate", "gear", "gift", "girl", "glad", "glow", "goal", "gold", "golf", "good", "gown", "grid",
    "grow", "gulf", "hair", "half", "hall", "hand", "harp", "hat", "hawk", "head", "heat", "help",
    "herb", "hero", "high", "hill", "hint", "home", "hook", "hope", "horn", "host", "hour", "huge",
    "idea", "inch", "iron", "item", "jazz", "joke", "jump", "jury", "keen", "kick", "kind", "king",
    "kite", "knee", "knot", "lake", "lamp", "land", "lane", "last", "lawn", "leaf", "left", "lens",
    "life", "lift", "lime", "line", "lion", "list", "loaf", "lock", "loft", "long", "loud", "love",
    "luck", "lung", "mail", "main", "map", "mask", "meal", "mild", "milk", "mind", "mint", "mist",
    "moon", "moss", "move", "mule", "nail", "name", "navy", "neck", "nest", "news", "nice", "nine",
    "noon", "nose", "note", "oak", "odd", "oil", "open", "oval", "oven", "pace", "page", "pair",
    "palm", "park", "path", "peak", "pear", "pen", "pine", "pink", "pipe", "plan", "plum", "poem",
    "pond", "pony", "pool", "port", "post", "pull", "pump", "rain", "ramp", "rare", "reef", "rest",
    "rice", "ring", "road", "rock",
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::WORDS;

    #[test]
    fn words_are_distinct_short_lowercase() {
        let mut sorted = WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 256);
        assert!(WORDS
            .iter()
            .all(|w| (3..=5).contains(&w.len()) && w.chars().all(|c| c.is_ascii_lowercase())));
    }
}
