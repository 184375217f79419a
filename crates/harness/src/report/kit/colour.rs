//! Console colours. Reports build their console text either plain or with ANSI styles; the
//! command line builds it styled and prints it through `anstream`, which keeps the styles only
//! where they belong (a terminal, no `NO_COLOR`, or `CLICOLOR_FORCE`). Tests pass the choice in,
//! so they never depend on the process environment.

use anstyle::{AnsiColor, Style};

/// How console text is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// No escape sequences at all.
    Plain,
    /// ANSI styles, for a stream that strips them where unwanted (`anstream::stdout()`).
    Ansi,
}

/// What a coloured piece of text says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Met, passed.
    Good,
    /// Broken but tolerated: warnings and deviations.
    Caution,
    /// Failed or aborted.
    Bad,
}

impl Tone {
    fn style(self) -> Style {
        let colour = match self {
            Tone::Good => AnsiColor::Green,
            Tone::Caution => AnsiColor::Yellow,
            Tone::Bad => AnsiColor::Red,
        };
        Style::new().fg_color(Some(colour.into()))
    }
}

/// `text` in the colour of `tone`, or as it is when `paint` is [`Paint::Plain`].
pub(crate) fn paint(paint: Paint, tone: Tone, text: &str) -> String {
    match paint {
        Paint::Plain => text.to_string(),
        Paint::Ansi => {
            let style = tone.style();
            format!("{style}{text}{style:#}")
        }
    }
}

/// `text` as `anstream` prints it under `choice`: what a terminal would receive.
#[cfg(test)]
pub(crate) fn printed(text: &str, choice: anstream::ColorChoice) -> String {
    use std::io::Write;

    let mut stream = anstream::AutoStream::new(Vec::new(), choice);
    stream.write_all(text.as_bytes()).unwrap();
    String::from_utf8(stream.into_inner()).unwrap()
}

#[cfg(test)]
mod tests {
    use anstream::ColorChoice;
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case(Tone::Good, "\x1b[32m")]
    #[case(Tone::Caution, "\x1b[33m")]
    #[case(Tone::Bad, "\x1b[31m")]
    fn ansi_wraps_the_text_in_its_colour(#[case] tone: Tone, #[case] start: &str) {
        assert_eq!(
            paint(Paint::Ansi, tone, "FAIL"),
            format!("{start}FAIL\x1b[0m")
        );
        assert_eq!(paint(Paint::Plain, tone, "FAIL"), "FAIL");
    }

    #[rstest]
    #[case::no_color(ColorChoice::Never, false)]
    #[case::forced(ColorChoice::AlwaysAnsi, true)]
    fn the_printing_stream_decides(#[case] choice: ColorChoice, #[case] styled: bool) {
        let text = paint(Paint::Ansi, Tone::Bad, "FAIL");
        let out = printed(&text, choice);
        assert_eq!(out.contains('\x1b'), styled);
        assert!(out.contains("FAIL"));
    }
}
