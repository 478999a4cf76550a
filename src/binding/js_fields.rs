//! Reading typed fields off JavaScript objects, with messages that name the field.

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{FromNapiValue, Object, Unknown};
use napi::{JsValue, ValueType};

/// A field's value, or a message saying what was wrong with it.
pub type FieldResult<T> = std::result::Result<T, String>;

fn get<'env>(obj: &Object<'env>, name: &str) -> FieldResult<Unknown<'env>> {
    obj.get_named_property::<Unknown>(name).map_err(|e| format!("cannot read {name}: {e}"))
}

fn type_name(value: &Unknown) -> &'static str {
    match value.get_type() {
        Ok(ValueType::Null) => "null",
        Ok(ValueType::Undefined) => "undefined",
        Ok(ValueType::Boolean) => "a boolean",
        Ok(ValueType::Number) => "a number",
        Ok(ValueType::String) => "a string",
        Ok(ValueType::Symbol) => "a symbol",
        Ok(ValueType::Object) => "an object",
        Ok(ValueType::Function) => "a function",
        Ok(ValueType::BigInt) => "a bigint",
        _ => "an unknown value",
    }
}

fn is_type(value: &Unknown, expected: ValueType) -> bool {
    value.get_type().map(|t| t == expected).unwrap_or(false)
}

pub fn is_nothing(value: &Unknown) -> bool {
    matches!(value.get_type(), Ok(ValueType::Undefined) | Ok(ValueType::Null))
}

/// Unknown → a typed value the caller already checked.
pub fn typed<T: FromNapiValue>(value: Unknown) -> FieldResult<T> {
    // SAFETY: the value belongs to the live env it was read from.
    unsafe { T::from_napi_value(value.value().env, value.raw()) }.map_err(|e| e.to_string())
}

/// A present field of the JS type `expected` (`described` as in "a string");
/// None when `undefined` or `null`; any other type is an error naming the field.
fn opt_of<'env>(
    obj: &Object<'env>,
    name: &str,
    what: &str,
    expected: ValueType,
    described: &str,
) -> FieldResult<Option<Unknown<'env>>> {
    let Some(value) = opt_value(obj, name)? else {
        return Ok(None);
    };
    check_type(&value, expected, &format!("{what}.{name}"), described)?;
    Ok(Some(value))
}

/// `undefined` or `null` give None; any other non-string is an error.
pub fn opt_string(obj: &Object, name: &str, what: &str) -> FieldResult<Option<String>> {
    opt_of(obj, name, what, ValueType::String, "a string")?.map(typed).transpose()
}

pub fn string(obj: &Object, name: &str, what: &str) -> FieldResult<String> {
    opt_string(obj, name, what)?.ok_or_else(|| format!("{what}.{name} is required (a string)"))
}

/// A finite number; None when absent.
pub fn opt_number(obj: &Object, name: &str, what: &str) -> FieldResult<Option<f64>> {
    let Some(value) = opt_of(obj, name, what, ValueType::Number, "a number")? else {
        return Ok(None);
    };
    let n: f64 = typed(value)?;
    if !n.is_finite() {
        return Err(format!("{what}.{name} must be a finite number"));
    }
    Ok(Some(n))
}

/// A boolean; absent is false.
pub fn opt_bool(obj: &Object, name: &str, what: &str) -> FieldResult<bool> {
    let value = opt_of(obj, name, what, ValueType::Boolean, "a boolean")?;
    Ok(value.map(typed).transpose()?.unwrap_or(false))
}

/// An array of strings; absent is empty.
pub fn opt_strings(obj: &Object, name: &str, what: &str) -> FieldResult<Vec<String>> {
    let Some(value) = opt_value(obj, name)? else {
        return Ok(Vec::new());
    };
    if !is_array(&value) {
        return Err(format!("{what}.{name} must be an array of strings, got {}", type_name(&value)));
    }
    let items: Vec<Unknown> = typed(value)?;
    items
        .into_iter()
        .map(|item| {
            check_type(&item, ValueType::String, &format!("each entry of {what}.{name}"), "a string")?;
            typed(item)
        })
        .collect()
}

/// An object (not a function); None when absent.
pub fn opt_object<'env>(obj: &Object<'env>, name: &str, what: &str) -> FieldResult<Option<Object<'env>>> {
    opt_of(obj, name, what, ValueType::Object, "an object")?.map(typed).transpose()
}

/// Any value that is present (for fields only checked for shape).
pub fn opt_value<'env>(obj: &Object<'env>, name: &str) -> FieldResult<Option<Unknown<'env>>> {
    let value = get(obj, name)?;
    Ok(if is_nothing(&value) { None } else { Some(value) })
}

/// Checks that a present field is of the given JS type.
pub fn check_type(value: &Unknown, expected: ValueType, label: &str, expected_text: &str) -> FieldResult<()> {
    if is_type(value, expected) {
        Ok(())
    } else {
        Err(format!("{label} must be {expected_text}, got {}", type_name(value)))
    }
}

pub fn is_array(value: &Unknown) -> bool {
    value.is_array().unwrap_or(false)
}

/// The object's own string-valued entries; any other value is an error.
pub fn string_map(obj: &Object, label: &str) -> FieldResult<Vec<(String, String)>> {
    let keys = Object::keys(obj).map_err(|e| format!("cannot list {label}: {e}"))?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let value = get(obj, &key)?;
        check_type(&value, ValueType::String, &format!("{label}.{key}"), "a string")?;
        out.push((key, typed(value)?));
    }
    Ok(out)
}

/// A string argument of a method, e.g. `label` = `"isRunning(spaceId)"`.
pub fn string_arg(value: Unknown, label: &str) -> FieldResult<String> {
    check_type(&value, ValueType::String, label, "a string")?;
    typed(value)
}

/// An object argument (not null, not a function).
pub fn object_arg<'env>(value: Unknown<'env>, label: &str) -> FieldResult<Object<'env>> {
    check_type(&value, ValueType::Object, label, "an object")?;
    typed(value)
}
