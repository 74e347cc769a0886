//! The word list for the spoken safety code: 256 common English nouns, one per byte value,
//! curated so that two words read aloud are hard to confuse.
//!
//! Rules (checked by the tests below): lowercase a-z only, 3 to 8 letters, sorted and unique;
//! every two words differ by an edit distance of at least 3, and by at least 2 after a crude
//! phonetic folding (`ph`→`f`, `ck`/`c`/`q`→`k`, silent `gh`/`k`/`w`, doubled letters collapsed,
//! every run of vowels one vowel), which rules out rhymes such as candle/sandal; no word has a
//! common homophone or a common variant spelling (pair/pear, for/four, knot/not, deer/dear,
//! bear/bare, mail/male, harbor/harbour, ...; see `HOMOPHONES`); no number words, letters or
//! names. Chosen with a greedy pass over about 900 candidates, then by hand.

/// The word list: `WORDS[b]` renders byte `b`.
pub const WORDS: [&str; 256] = [
    "acorn", "almond", "alpaca", "anchor", "answer", "anthem", "apron", "arch", "arena", "artist",
    "atlas", "attic", "autumn", "avocado", "award", "bamboo", "banana", "banjo", "barn", "battery",
    "beacon", "beaver", "bedroom", "beehive", "blender", "blossom", "bottle", "bowling", "branch",
    "brick", "bronze", "buffalo", "bulldog", "cabbage", "cactus", "caramel", "caravan", "cargo",
    "cartoon", "cement", "chalk", "cheese", "chicken", "chimney", "cinema", "circus", "cliff",
    "closet", "coach", "coconut", "compass", "concert", "costume", "coyote", "crab", "cradle",
    "crown", "crystal", "cupcake", "custard", "daisy", "dollar", "dolphin", "domino", "donkey",
    "dragon", "drawer", "drill", "dune", "eclipse", "elbow", "emerald", "escape", "evening",
    "fabric", "falcon", "family", "feather", "firefly", "folder", "forest", "fossil", "fox",
    "frame", "freezer", "fudge", "furnace", "galaxy", "gallery", "garlic", "gazelle", "gecko",
    "giant", "giraffe", "glacier", "grain", "gravel", "grocery", "hammock", "hamster", "handbag",
    "harvest", "hippo", "iceberg", "igloo", "island", "jaguar", "jasmine", "jersey", "jewel",
    "journal", "juice", "jungle", "kiwi", "label", "ladybug", "lantern", "laptop", "lava", "lemon",
    "leopard", "lettuce", "library", "lobster", "luggage", "lullaby", "lunar", "machine", "magnet",
    "magpie", "mailbox", "mammoth", "meadow", "melody", "mermaid", "mural", "music", "napkin",
    "noodle", "oasis", "octopus", "onion", "opera", "orbit", "orchard", "origami", "ostrich",
    "palace", "pancake", "parcel", "parsley", "pastry", "pelican", "penguin", "pepper", "picnic",
    "planet", "plaster", "pocket", "poncho", "popcorn", "prairie", "pretzel", "pudding", "puffin",
    "pumpkin", "puzzle", "pyramid", "quarry", "queen", "quilt", "radish", "raft", "rainbow",
    "recipe", "ripple", "robin", "rodeo", "rugby", "safari", "salad", "sausage", "scarf",
    "scooter", "shovel", "shrimp", "signal", "silver", "sleeve", "smoke", "snail", "snowman",
    "soccer", "sofa", "sparrow", "spider", "spinach", "sponge", "squash", "squid", "stadium",
    "statue", "steam", "stencil", "summer", "sundial", "sunset", "swallow", "swamp", "switch",
    "syrup", "talent", "teacup", "temple", "tennis", "thermos", "thimble", "thunder", "toast",
    "tomato", "tongue", "topaz", "tornado", "tower", "tractor", "treetop", "trophy", "tugboat",
    "tundra", "turkey", "turnip", "unicorn", "vanilla", "velvet", "viking", "violin", "volcano",
    "voyage", "vulture", "waffle", "walkway", "wallet", "walrus", "warthog", "weekend", "whisker",
    "whistle", "widget", "window", "winter", "wizard", "wolf", "wombat", "wreath", "zebra",
    "zigzag",
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::WORDS;

    /// Homophones, near-homophones and variant spellings; no word of any pair may be in the list.
    const HOMOPHONES: &[(&str, &str)] = &[
        ("pair", "pear"),
        ("four", "for"),
        ("knot", "not"),
        ("deer", "dear"),
        ("bear", "bare"),
        ("mail", "male"),
        ("night", "knight"),
        ("flour", "flower"),
        ("sun", "son"),
        ("sea", "see"),
        ("tea", "tee"),
        ("bee", "be"),
        ("eye", "i"),
        ("one", "won"),
        ("two", "too"),
        ("eight", "ate"),
        ("hour", "our"),
        ("right", "write"),
        ("road", "rode"),
        ("rain", "reign"),
        ("steal", "steel"),
        ("tail", "tale"),
        ("hole", "whole"),
        ("sail", "sale"),
        ("meat", "meet"),
        ("pole", "poll"),
        ("board", "bored"),
        ("plain", "plane"),
        ("peace", "piece"),
        ("weak", "week"),
        ("wait", "weight"),
        ("waist", "waste"),
        ("which", "witch"),
        ("wood", "would"),
        ("brake", "break"),
        ("cell", "sell"),
        ("cent", "scent"),
        ("die", "dye"),
        ("grate", "great"),
        ("hear", "here"),
        ("knew", "new"),
        ("know", "no"),
        ("made", "maid"),
        ("some", "sum"),
        ("their", "there"),
        ("wear", "where"),
        ("berry", "bury"),
        ("border", "boarder"),
        ("boulder", "bolder"),
        ("carrot", "carat"),
        ("cereal", "serial"),
        ("coral", "choral"),
        ("desert", "dessert"),
        ("gorilla", "guerrilla"),
        ("horse", "hoarse"),
        ("kernel", "colonel"),
        ("llama", "lama"),
        ("lumber", "lumbar"),
        ("medal", "meddle"),
        ("metal", "mettle"),
        ("mustard", "mustered"),
        ("pigeon", "pidgin"),
        ("quartz", "quarts"),
        ("symbol", "cymbal"),
        ("cannon", "canon"),
        ("pistol", "pistil"),
        ("wander", "wonder"),
        ("burger", "burgher"),
        ("canvas", "canvass"),
        ("timber", "timbre"),
        ("harbor", "harbour"),
        ("yogurt", "yoghurt"),
        ("omelet", "omelette"),
        ("pajamas", "pyjamas"),
        ("grizzly", "grisly"),
        ("moose", "mousse"),
        ("muscle", "mussel"),
        ("pedal", "petal"),
        ("toad", "towed"),
        ("rose", "rows"),
        ("flea", "flee"),
        ("hair", "hare"),
        ("heal", "heel"),
        ("stair", "stare"),
        ("toe", "tow"),
        ("vain", "vein"),
        ("whale", "wail"),
        ("jeans", "genes"),
        ("leak", "leek"),
        ("plum", "plumb"),
        ("root", "route"),
        ("sweet", "suite"),
        ("chili", "chilly"),
        ("nickel", "nickle"),
        ("gray", "grey"),
        ("color", "colour"),
        ("cheetah", "cheater"),
        ("finish", "finnish"),
        ("flu", "flue"),
        ("gate", "gait"),
        ("manor", "manner"),
        ("minor", "miner"),
        ("naval", "navel"),
        ("pail", "pale"),
        ("pain", "pane"),
        ("peak", "peek"),
        ("pier", "peer"),
        ("sole", "soul"),
        ("steak", "stake"),
        ("throne", "thrown"),
        ("yolk", "yoke"),
        ("lynx", "links"),
        ("cheap", "cheep"),
        ("chord", "cord"),
        ("fir", "fur"),
        ("hymn", "him"),
        ("lessen", "lesson"),
        ("seam", "seem"),
        ("tide", "tied"),
        ("wax", "whacks"),
        ("dough", "doe"),
        ("bolder", "boulder"),
        ("marshal", "martial"),
        ("sundae", "sunday"),
        ("mantle", "mantel"),
        ("idle", "idol"),
        ("aisle", "isle"),
        ("ferry", "fairy"),
        ("insect", "incest"),
        ("sandal", "candle"),
    ];

    fn edit_distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(ca != *cb);
                cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }

    /// A crude phonetic folding: digraphs to one sound, hard and soft `c`, silent `gh`, `kn`
    /// and `wr`, final `le` as `al`, a silent final `e`, doubled letters once, vowel runs as `a`.
    fn phonetic(word: &str) -> String {
        let mut s = word.to_owned();
        for (from, to) in [
            ("tch", "ch"),
            ("dge", "j"),
            ("ph", "f"),
            ("ck", "k"),
            ("wh", "w"),
            ("wr", "r"),
            ("kn", "n"),
            ("gh", ""),
            ("qu", "kw"),
            ("q", "k"),
            ("x", "ks"),
        ] {
            s = s.replace(from, to);
        }
        let chars: Vec<char> = s.chars().collect();
        let mut t = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let soft = matches!(chars.get(i + 1), Some('e' | 'i' | 'y'));
            t.push(match c {
                'c' if soft => 's',
                'c' => 'k',
                _ => c,
            });
        }
        if let Some(stem) = t.strip_suffix("le") {
            t = format!("{stem}al");
        } else if t.len() > 1
            && t.ends_with('e')
            && !matches!(t.as_bytes()[t.len() - 2], b'a' | b'e' | b'i' | b'o' | b'u')
        {
            t.pop();
        }
        let mut out = String::new();
        for c in t.chars() {
            let c = if "aeiouy".contains(c) { 'a' } else { c };
            if out.ends_with(c) {
                continue;
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn words_are_unique_sorted_lowercase_and_3_to_8_letters() {
        let mut sorted = WORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, WORDS.to_vec(), "sorted");
        sorted.dedup();
        assert_eq!(sorted.len(), 256);
        for w in WORDS {
            assert!((3..=8).contains(&w.len()), "{w}");
            assert!(w.bytes().all(|b| b.is_ascii_lowercase()), "{w}");
        }
    }

    #[test]
    fn no_word_has_a_listed_homophone_or_variant_spelling() {
        for (a, b) in HOMOPHONES {
            assert!(!WORDS.contains(a), "{a} (sounds like {b})");
            assert!(!WORDS.contains(b), "{b} (sounds like {a})");
        }
    }

    #[test]
    fn every_two_words_differ_by_an_edit_distance_of_3_and_a_phonetic_distance_of_2() {
        for (i, a) in WORDS.iter().enumerate() {
            for b in &WORDS[i + 1..] {
                assert!(edit_distance(a, b) >= 3, "{a} / {b}");
                assert!(
                    edit_distance(&phonetic(a), &phonetic(b)) >= 2,
                    "{a} / {b} sound alike ({} / {})",
                    phonetic(a),
                    phonetic(b)
                );
            }
        }
    }

    #[test]
    fn the_checks_catch_what_they_are_meant_to_catch() {
        assert_eq!(edit_distance("pair", "pear"), 2);
        assert_eq!(edit_distance("knot", "not"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        // rhymes and spelling variants fold together
        assert_eq!(phonetic("candle"), "kandal");
        assert_eq!(phonetic("sandal"), "sandal");
        assert_eq!(edit_distance(&phonetic("candle"), &phonetic("sandal")), 1);
        assert_eq!(phonetic("knight"), phonetic("nite"));
        assert_eq!(phonetic("phone"), phonetic("fone"));
        assert_eq!(phonetic("rabbit"), "rabat");
    }
}
