//! What the training loop reports; the loop never prints, observers (progress bars, logs) do. The events
//! are typed in [`tfkd_records::events`], with the records they end in.

pub use tfkd_records::events::{Event, JsonLines, Observer, Silent};
