//! Making attacker-influenced text harmless wherever a notification is shown: no control characters,
//! no chat or HTML mark-up, bounded length.

/// Longest rendering of one field taken from an event.
pub const MAX_FIELD: usize = 512;

/// For text and JSON: control characters become spaces; `<`, `>` become look-alikes that no renderer
/// parses (so `<!channel>` and `<https://x|y>` are inert); an `&` that would start an entity is
/// neutralised; at most `max` characters. Then nothing an event says is a link: a Markdown link
/// (`[text](url)`, which Chatbot's `client-markdown` renders) is broken apart, and a URL is defanged as
/// responders write indicators (`hxxps://evil[.]example/x`), readable and never clickable. Firebreak's
/// own links are built by Firebreak and never pass through here.
pub fn sanitise(text: &str, max: usize) -> String {
    defang(&inert(text, max))
}

fn inert(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 3));
    let chars: Vec<char> = text.chars().collect();
    for (n, &c) in chars.iter().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        match c {
            '<' => out.push('‹'),
            '>' => out.push('›'),
            '&' if starts_entity(&chars[n + 1..]) => out.push('＆'),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The schemes a chat client or a mail reader turns into a link.
const SCHEMES: [(&str, &str); 4] =
    [("https://", "hxxps://"), ("http://", "hxxp://"), ("ftp://", "fxp://"), ("www.", "www[.]")];

/// Every URL made unclickable (its scheme and the dots of its host), and `](` of a Markdown link split.
fn defang(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while !rest.is_empty() {
        let lower = rest.to_ascii_lowercase();
        let found = SCHEMES.iter().filter_map(|&(scheme, inert)| Some((lower.find(scheme)?, scheme, inert))).min();
        let Some((at, scheme, inert)) = found else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        out.push_str(inert);
        let after = &rest[at + scheme.len()..];
        // The host: up to the first character that cannot be in one.
        let host_len =
            after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')).unwrap_or(after.len());
        out.push_str(&after[..host_len].replace('.', "[.]"));
        rest = &after[host_len..];
    }
    out.replace("](", "] (")
}

/// `&lt;`, `&#60;`, `&#x3c;`: a name or number followed by `;` within a few characters.
fn starts_entity(rest: &[char]) -> bool {
    let name: Vec<&char> = rest.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '#').take(10).collect();
    !name.is_empty() && rest.get(name.len()) == Some(&';')
}

/// For the SNS subject: printable ASCII only, one line, at most `max` characters, mark-up inert.
pub fn ascii_line(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mapped: String = chars
        .iter()
        .enumerate()
        .map(|(n, &c)| match c {
            '<' => '(',
            '>' => ')',
            '&' if starts_entity(&chars[n + 1..]) => '+',
            c if c.is_ascii_graphic() || c == ' ' => c,
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        })
        .collect();
    let mut line = mapped.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > max {
        line.truncate(max - 3);
        line.push_str("...");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chat_mentions_links_and_entities_are_inert() {
        let clean = sanitise("<!channel> see <https://evil.example|here> &lt;b&gt; \u{7}bell", MAX_FIELD);
        assert!(
            !clean.contains('<') && !clean.contains('>') && !clean.contains("&lt;") && !clean.contains('\u{7}'),
            "{clean}"
        );
    }

    /// Hole 7 of #44: what an attacker puts in a user agent, a title or a tag ("urgent, approve at
    /// https://…", a Markdown link) reaches the approvers' channel as text, never as a link.
    #[test]
    fn urls_and_markdown_links_from_an_event_are_text() {
        let agent = sanitise("aws-cli/2.15 URGENT approve at https://approve.evil.example/ok?x=1 now", MAX_FIELD);
        assert_eq!(agent, "aws-cli/2.15 URGENT approve at hxxps://approve[.]evil[.]example/ok?x=1 now");
        let link = sanitise("[Approve the containment](HTTP://evil.example) or www.evil.example", MAX_FIELD);
        assert_eq!(link, "[Approve the containment] (hxxp://evil[.]example) or www[.]evil[.]example");
        assert_eq!(
            sanitise("Backdoor:EC2/C&CActivity.B on c2.example.invalid", MAX_FIELD),
            "Backdoor:EC2/C&CActivity.B on c2.example.invalid",
            "no scheme, no change"
        );
    }

    #[test]
    fn a_plain_ampersand_stays_readable() {
        assert_eq!(sanitise("Backdoor:EC2/C&CActivity.B", MAX_FIELD), "Backdoor:EC2/C&CActivity.B");
        assert_eq!(ascii_line("Backdoor:EC2/C&CActivity.B", 100), "Backdoor:EC2/C&CActivity.B");
    }

    #[test]
    fn length_is_capped() {
        assert_eq!(sanitise(&"x".repeat(2000), 10).chars().count(), 11);
        assert_eq!(ascii_line(&"é".repeat(300), 100).len(), 100);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn no_input_gives_a_subject_sns_would_reject(text in any::<String>()) {
            let line = ascii_line(&text, 100);
            prop_assert!(line.len() <= 100);
            prop_assert!(line.chars().all(|c| c.is_ascii_graphic() || c == ' '));
            prop_assert!(!line.contains('<') && !line.contains('>'));
        }

        #[test]
        fn no_input_becomes_markup(text in any::<String>(), markup in prop::sample::select(vec!["<!channel>", "<!here>", "<@U123>", "<https://x.example|click>", "&lt;", "&#60;", "&amp;"])) {
            let hostile = format!("{text}{markup}{text}");
            let clean = sanitise(&hostile, MAX_FIELD);
            prop_assert!(!clean.contains('<') && !clean.contains('>'));
            prop_assert!(!clean.contains("&lt;") && !clean.contains("&#60;") && !clean.contains("&amp;"));
            prop_assert!(!clean.chars().any(char::is_control));
        }

        #[test]
        fn no_input_becomes_a_link(text in any::<String>(), url in prop::sample::select(vec!["https://evil.example", "HTTP://evil.example/x", "[click](https://evil.example)", "www.evil.example"])) {
            let clean = sanitise(&format!("{text}{url}{text}"), MAX_FIELD).to_ascii_lowercase();
            prop_assert!(!clean.contains("http://") && !clean.contains("https://") && !clean.contains("]("));
            prop_assert!(!clean.contains("evil.example"));
        }
    }
}
