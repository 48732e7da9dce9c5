//! The occupancy chart a property manager opens: y-axis ticks, outages as
//! gaps (never as zero), a daily band for long runs, and a mark at each
//! incident.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use locker_examples::sim::IncidentKind;
use locker_examples::sim::report::{BAND_AFTER_DAYS, occupancy_svg};
use locker_proto::time::Instant;

fn count(svg: &str, class: &str) -> usize {
    svg.matches(&format!("class=\"{class}\"")).count()
}

/// The y values of the points of every element of `class`.
fn ys(svg: &str, class: &str) -> Vec<f64> {
    svg.split(&format!("class=\"{class}\""))
        .skip(1)
        .flat_map(|rest| {
            let points = rest.split("points=\"").nth(1).unwrap();
            let points = &points[..points.find('"').unwrap()];
            points
                .split_whitespace()
                .map(|p| p.split(',').nth(1).unwrap().parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn an_outage_is_a_gap_in_the_line_not_a_drop_to_zero() {
    // Two days at 10 to 20 occupied, the gateway off for six hours between.
    let mut hourly: Vec<Option<u32>> = (0..48).map(|h| Some(10 + (h % 11) as u32)).collect();
    for h in &mut hourly[20..26] {
        *h = None;
    }
    let svg = occupancy_svg(&hourly, 48, &[]);
    assert_eq!(count(&svg, "occupancy"), 2, "the line breaks once");
    assert_eq!(count(&svg, "outage"), 1, "the gap is shaded");
    assert!(svg.contains("hours 20 to 25"));
    // No point is drawn at zero: the lowest point is at 10 occupied.
    let zero = ys(&occupancy_svg(&[Some(0), Some(0)], 48, &[]), "occupancy")[0];
    let lowest = ys(&svg, "occupancy").into_iter().fold(f64::MIN, f64::max);
    assert!(lowest < zero - 1.0, "{lowest} vs zero at {zero}");
    assert_eq!(count(&svg, "band"), 0, "two days are drawn hourly");
}

#[test]
fn the_y_axis_has_round_ticks_up_to_the_capacity() {
    let svg = occupancy_svg(&[Some(3), Some(40), Some(12)], 48, &[]);
    let labels: Vec<String> = svg
        .split("class=\"y-tick\"")
        .skip(1)
        .map(|rest| {
            let text = &rest[rest.find('>').unwrap() + 1..];
            text[..text.find('<').unwrap()].to_owned()
        })
        .collect();
    assert_eq!(labels, ["0", "10", "20", "30", "40", "48"]);
}

#[test]
fn a_run_longer_than_a_month_shows_a_daily_band_with_its_gaps() {
    let days = BAND_AFTER_DAYS + 10;
    let mut hourly: Vec<Option<u32>> = (0..days * 24).map(|h| Some(5 + (h % 24) as u32)).collect();
    // Day 12 the gateway was off all day.
    for h in &mut hourly[12 * 24..13 * 24] {
        *h = None;
    }
    let svg = occupancy_svg(&hourly, 48, &[]);
    assert_eq!(count(&svg, "occupancy"), 0, "no hourly line");
    assert_eq!(count(&svg, "band"), 2, "the band breaks at the dark day");
    assert_eq!(count(&svg, "mean"), 2);
    assert_eq!(count(&svg, "outage"), 1);
    // Each day spans 5 to 28 occupied: the band's edges are those.
    let reference = occupancy_svg(&[Some(5), Some(28), Some(16)], 48, &[]);
    let (low, high) = {
        let y = ys(&reference, "occupancy");
        (y[0], y[1])
    };
    for y in ys(&svg, "band") {
        assert!(
            (y - low).abs() < 0.05 || (y - high).abs() < 0.05,
            "{y} is neither {low} nor {high}"
        );
    }
    // The mean, 16.5, lies between.
    for y in ys(&svg, "mean") {
        assert!(y < low && y > high);
    }
    assert_eq!(
        count(&occupancy_svg(&hourly[..30 * 24], 48, &[]), "band"),
        0
    );
}

#[test]
fn each_incident_is_marked_on_the_time_axis_by_kind() {
    let hourly: Vec<Option<u32>> = vec![Some(4); 72];
    let incidents = [
        (Instant::from_secs(5 * 3600), IncidentKind::ForcedDoor),
        (Instant::from_secs(30 * 3600), IncidentKind::LongOutage),
        (Instant::from_secs(31 * 3600), IncidentKind::ForcedDoor),
    ];
    let svg = occupancy_svg(&hourly, 48, &incidents);
    assert_eq!(count(&svg, "incident"), 3);
    assert_eq!(svg.matches("<title>forced_door</title>").count(), 2);
    assert_eq!(svg.matches("<title>long_outage</title>").count(), 1);
    // The legend names each kind once.
    assert_eq!(svg.matches(">forced_door</text>").count(), 1);
    assert_eq!(svg.matches(">long_outage</text>").count(), 1);
}
