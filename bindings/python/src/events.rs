//! Events from Arrow record batches: either one column per event field (the
//! trace contract's names) or the whole event as JSON text in a `json`
//! column, with an optional `user_id` column. Every row becomes what a
//! trace line would have become, so the runtime sees the same events.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch, StringArray};
use arrow_schema::DataType;
use edgeintent::{Event, EventError, EventKind, FeedbackKind, Parsed, RecItem};

/// Why a batch's columns cannot be read as events.
pub(crate) type ColumnError = String;

/// The `items` column: item ids (exposures) or recommended items (id, entity, score).
enum Items {
    Ids(ListArray),
    Recs(Box<RecColumns>),
}

/// The fields of recommended items, one entry per item of the list.
struct RecColumns {
    list: ListArray,
    id: StringArray,
    entity: Option<StringArray>,
    score: Option<Float64Array>,
}

/// A batch's columns, cast once to the types events need.
pub(crate) struct EventColumns {
    rows: usize,
    user: Option<StringArray>,
    json: Option<StringArray>,
    ts: Option<Int64Array>,
    ty: Option<StringArray>,
    text: [Option<StringArray>; TEXT.len()],
    num: [Option<Float64Array>; NUM.len()],
    query_len: Option<Int64Array>,
    items: Option<Items>,
}

const TEXT: [&str; 6] = ["page", "slot", "item", "kind", "topic", "name"];
const NUM: [&str; 7] = [
    "dy_px",
    "lat",
    "lon",
    "accuracy_m",
    "speed_mps",
    "importance",
    "value",
];

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _)
    )
}

fn cast(col: &ArrayRef, to: &DataType, name: &str) -> Result<ArrayRef, ColumnError> {
    arrow_cast::cast(col, to).map_err(|e| {
        format!(
            "column `{name}` ({}) cannot be read as {to}: {e}",
            col.data_type()
        )
    })
}

fn text_column(batch: &RecordBatch, name: &str) -> Result<Option<StringArray>, ColumnError> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(None);
    };
    if !is_text(col.data_type()) && !matches!(col.data_type(), DataType::Null) {
        return Err(format!(
            "column `{name}` must hold text, not {}",
            col.data_type()
        ));
    }
    Ok(Some(
        cast(col, &DataType::Utf8, name)?.as_string::<i32>().clone(),
    ))
}

fn number_column(batch: &RecordBatch, name: &str) -> Result<Option<Float64Array>, ColumnError> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(None);
    };
    if !(col.data_type().is_numeric() || matches!(col.data_type(), DataType::Null)) {
        return Err(format!(
            "column `{name}` must hold numbers, not {}",
            col.data_type()
        ));
    }
    Ok(Some(
        cast(col, &DataType::Float64, name)?
            .as_primitive::<Float64Type>()
            .clone(),
    ))
}

fn integer_column(batch: &RecordBatch, name: &str) -> Result<Option<Int64Array>, ColumnError> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let t = col.data_type();
    if !(t.is_integer() || matches!(t, DataType::Timestamp(_, _) | DataType::Null)) {
        return Err(format!(
            "column `{name}` must hold integers (milliseconds for ts_ms), not {t}"
        ));
    }
    if let DataType::Timestamp(unit, _) = t {
        if *unit != arrow_schema::TimeUnit::Millisecond {
            return Err(format!(
                "column `{name}` is a timestamp in {unit:?}: give milliseconds since the Unix epoch"
            ));
        }
    }
    Ok(Some(
        cast(col, &DataType::Int64, name)?
            .as_primitive::<Int64Type>()
            .clone(),
    ))
}

fn items_column(batch: &RecordBatch) -> Result<Option<Items>, ColumnError> {
    let Some(col) = batch.column_by_name("items") else {
        return Ok(None);
    };
    let child = match col.data_type() {
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => f.data_type().clone(),
        DataType::Null => return Ok(None),
        t => return Err(format!("column `items` must be a list, not {t}")),
    };
    if is_text(&child) {
        let to = DataType::List(Arc::new(arrow_schema::Field::new_list_field(
            DataType::Utf8,
            true,
        )));
        return Ok(Some(Items::Ids(
            cast(col, &to, "items")?.as_list::<i32>().clone(),
        )));
    }
    let DataType::Struct(fields) = &child else {
        return Err(format!(
            "column `items` must be a list of item ids or of structs (id, entity, score), not a list of {child}"
        ));
    };
    let mut want = Vec::new();
    for (name, ty) in [
        ("id", DataType::Utf8),
        ("entity", DataType::Utf8),
        ("score", DataType::Float64),
    ] {
        if fields.iter().any(|f| f.name() == name) {
            want.push(arrow_schema::Field::new(name, ty, true));
        }
    }
    if !want.iter().any(|f| f.name() == "id") {
        return Err("column `items`: its structs need an `id` field".into());
    }
    let to = DataType::List(Arc::new(arrow_schema::Field::new_list_field(
        DataType::Struct(want.into()),
        true,
    )));
    let list = cast(col, &to, "items")?.as_list::<i32>().clone();
    let structs = list.values().as_struct().clone();
    let field = |name: &str| structs.column_by_name(name).cloned();
    Ok(Some(Items::Recs(Box::new(RecColumns {
        id: field("id")
            .map(|c| c.as_string::<i32>().clone())
            .ok_or("column `items`: no `id`")?,
        entity: field("entity").map(|c| c.as_string::<i32>().clone()),
        score: field("score").map(|c| c.as_primitive::<Float64Type>().clone()),
        list,
    }))))
}

fn get_text(col: &Option<StringArray>, row: usize) -> Option<&str> {
    col.as_ref()
        .filter(|c| c.is_valid(row))
        .map(|c| c.value(row))
}

fn get_num(col: &Option<Float64Array>, row: usize) -> Option<f64> {
    col.as_ref()
        .filter(|c| c.is_valid(row))
        .map(|c| c.value(row))
}

impl EventColumns {
    /// Reads the columns of `batch`; an error names the column and what it should hold.
    pub(crate) fn new(batch: &RecordBatch) -> Result<EventColumns, ColumnError> {
        let json = text_column(batch, "json")?;
        let ts = integer_column(batch, "ts_ms")?;
        let ty = text_column(batch, "type")?;
        if json.is_none() && (ts.is_none() || ty.is_none()) {
            let names: Vec<&str> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            return Err(format!(
                "events need the columns `ts_ms` and `type` (and the fields of each type), or the whole event as JSON text in a column `json`; the columns are: {}",
                names.join(", ")
            ));
        }
        let mut text: [Option<StringArray>; TEXT.len()] = Default::default();
        for (slot, name) in text.iter_mut().zip(TEXT) {
            *slot = text_column(batch, name)?;
        }
        let mut num: [Option<Float64Array>; NUM.len()] = Default::default();
        for (slot, name) in num.iter_mut().zip(NUM) {
            *slot = number_column(batch, name)?;
        }
        Ok(EventColumns {
            rows: batch.num_rows(),
            user: text_column(batch, "user_id")?,
            json,
            ts,
            ty,
            text,
            num,
            query_len: integer_column(batch, "query_len")?,
            items: items_column(batch)?,
        })
    }

    /// Rows in the batch.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Whether the batch has a `user_id` column.
    pub(crate) fn has_users(&self) -> bool {
        self.user.is_some()
    }

    /// The user of a row (`None` without a `user_id` column, or when null).
    pub(crate) fn user(&self, row: usize) -> Option<&str> {
        get_text(&self.user, row)
    }

    fn text(&self, name: &'static str, row: usize) -> Result<String, EventError> {
        let i = TEXT.iter().position(|&n| n == name).unwrap_or(0);
        get_text(&self.text[i], row)
            .map(str::to_owned)
            .ok_or(EventError::MissingField(name))
    }

    fn num(&self, name: &'static str, row: usize) -> Option<f64> {
        let i = NUM.iter().position(|&n| n == name).unwrap_or(0);
        get_num(&self.num[i], row)
    }

    fn need(&self, name: &'static str, row: usize) -> Result<f64, EventError> {
        self.num(name, row).ok_or(EventError::MissingField(name))
    }

    fn item_range(list: &ListArray, row: usize) -> std::ops::Range<usize> {
        let o = list.value_offsets();
        o[row] as usize..o[row + 1] as usize
    }

    fn ids(&self, row: usize) -> Result<Vec<String>, EventError> {
        match &self.items {
            Some(Items::Ids(list)) if list.is_valid(row) => {
                let values = list.values().as_string::<i32>();
                Ok(Self::item_range(list, row)
                    .filter(|&i| values.is_valid(i))
                    .map(|i| values.value(i).to_owned())
                    .collect())
            }
            Some(Items::Recs(r)) if r.list.is_valid(row) => Ok(Self::item_range(&r.list, row)
                .filter(|&i| r.id.is_valid(i))
                .map(|i| r.id.value(i).to_owned())
                .collect()),
            _ => Err(EventError::MissingField("items")),
        }
    }

    fn recs(&self, row: usize) -> Result<Vec<RecItem>, EventError> {
        match &self.items {
            Some(Items::Recs(r)) if r.list.is_valid(row) => Self::item_range(&r.list, row)
                .map(|i| {
                    if !r.id.is_valid(i) {
                        return Err(EventError::MissingField("items[].id"));
                    }
                    Ok(RecItem {
                        id: r.id.value(i).to_owned(),
                        entity: get_text(&r.entity, i).map(str::to_owned),
                        score: get_num(&r.score, i),
                    })
                })
                .collect(),
            Some(Items::Ids(_)) => self.ids(row).map(|ids| {
                ids.into_iter()
                    .map(|id| RecItem {
                        id,
                        entity: None,
                        score: None,
                    })
                    .collect()
            }),
            _ => Err(EventError::MissingField("items")),
        }
    }

    /// The row as a trace line would have parsed: an event, a record of an
    /// unknown type, or what is wrong with it.
    pub(crate) fn parse(&self, row: usize) -> Result<Parsed, EventError> {
        if let Some(json) = &self.json {
            if !json.is_valid(row) {
                return Err(EventError::MissingField("json"));
            }
            return edgeintent::parse_line(json.value(row));
        }
        let ts_ms = match &self.ts {
            Some(c) if c.is_valid(row) => c.value(row),
            _ => return Err(EventError::MissingField("ts_ms")),
        };
        let type_name = get_text(&self.ty, row).ok_or(EventError::MissingField("type"))?;
        let kind = match type_name {
            "app_foreground" => EventKind::AppForeground,
            "app_background" => EventKind::AppBackground,
            "page_view" => EventKind::PageView {
                page: self.text("page", row)?,
            },
            "scroll" => EventKind::Scroll {
                page: self.text("page", row)?,
                dy_px: self.need("dy_px", row)?,
            },
            "exposure" => EventKind::Exposure {
                slot: self.text("slot", row)?,
                items: self.ids(row)?,
            },
            "click" => EventKind::Click {
                slot: self.text("slot", row)?,
                item: self.text("item", row)?,
            },
            "pull_to_refresh" => EventKind::PullToRefresh {
                page: self.text("page", row)?,
            },
            "feedback" => {
                let kind = self.text("kind", row)?;
                EventKind::Feedback {
                    item: self.text("item", row)?,
                    kind: serde_json::from_value::<FeedbackKind>(serde_json::Value::String(
                        kind.clone(),
                    ))
                    .map_err(|_| {
                        EventError::BadField(format!(
                            "feedback: `kind` must be dislike, like or report, got {kind:?}"
                        ))
                    })?,
                }
            }
            "search" => EventKind::Search {
                query_len: match self.query_len.as_ref().filter(|c| c.is_valid(row)) {
                    Some(c) => Some(u32::try_from(c.value(row)).map_err(|_| {
                        EventError::BadField(format!(
                            "search: `query_len` {} is not a length",
                            c.value(row)
                        ))
                    })?),
                    None => None,
                },
            },
            "location" => EventKind::Location {
                lat: self.need("lat", row)?,
                lon: self.need("lon", row)?,
                accuracy_m: self.need("accuracy_m", row)?,
                speed_mps: self.num("speed_mps", row),
            },
            "notification" => EventKind::Notification {
                topic: self.text("topic", row)?,
                importance: self.num("importance", row),
            },
            "recommendations" => EventKind::Recommendations {
                slot: self.text("slot", row)?,
                items: self.recs(row)?,
            },
            "custom" => EventKind::Custom {
                name: self.text("name", row)?,
                value: self.num("value", row),
            },
            other => {
                return Ok(Parsed::Unknown {
                    ts_ms,
                    type_name: other.to_owned(),
                })
            }
        };
        let event = Event { ts_ms, kind };
        event.validate()?;
        Ok(Parsed::Event(event))
    }
}
