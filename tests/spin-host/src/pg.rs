//! `spin:postgres/postgres@4.2.0` over tokio-postgres, as Spin implements it: parameters are
//! bound as the Rust type of their variant, and each result column is read by its Postgres type
//! (a type Spin has no variant for comes back as `unsupported`, with its binary value).
//!
//! The async functions do the whole query and then hand the guest a stream that is already
//! filled, so a query's rows are held in memory at once (fine for tests). No TLS.

// The error type is the WIT interface's `error` variant, as large as Spin defines it.
#![allow(clippy::result_large_err)]

use std::error::Error as StdError;
use std::sync::Arc;

use bytes::BytesMut;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::Client;
use vecgate_edge::native::tls::{describe, PgTarget};
use wasmtime::component::{Accessor, FutureReader, HasSelf, Resource, StreamReader};

use crate::bindings::spin::postgres::postgres::{
    Column, DbDataType, DbError, DbValue, Error, Host, HostConnection, HostConnectionBuilder,
    HostConnectionBuilderWithStore, HostConnectionWithStore, ParameterValue, QueryError, Row,
    RowSet,
};
use crate::State;

/// An open connection (the `connection` resource).
pub struct PgConnection {
    client: Arc<Client>,
}

/// A `connection-builder` resource: an address and an optional CA root.
pub struct PgConnectionBuilder {
    address: String,
    ca_root: Option<String>,
}

/// Connects to `address` (a `postgres://` URL) on a loopback host, with TLS as its `sslmode`
/// says (libpq's meaning, as vecgate's native host) and `ca_root` (PEM) as the trusted roots
/// when the component set one.
pub async fn connect(address: &str, ca_root: Option<&str>) -> Result<Client, Error> {
    let target = PgTarget::parse_with_ca(address, ca_root)
        .map_err(|e| Error::ConnectionFailed(format!("invalid address: {e}")))?;
    let config = &target.config;
    let loopback = config.get_hosts().iter().all(|host| match host {
        tokio_postgres::config::Host::Tcp(name) => crate::is_loopback(name),
        tokio_postgres::config::Host::Unix(_) => false,
    });
    if !loopback {
        return Err(Error::ConnectionFailed(
            "the test host connects to loopback addresses only".into(),
        ));
    }
    let (client, connection) = config
        .connect(target.tls.clone())
        .await
        .map_err(|e| Error::ConnectionFailed(describe(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs one statement and reads every row, as `query` does.
pub async fn query(
    client: &Client,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<RowSet, Error> {
    let params = params
        .into_iter()
        .map(parameter)
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let prepared = client.prepare(statement).await.map_err(query_failed)?;
    let columns = prepared
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            data_type: data_type(c.type_()),
        })
        .collect();
    let rows = client.query(&prepared, &refs).await.map_err(query_failed)?;
    let rows = rows
        .iter()
        .map(|row| (0..row.len()).map(|i| value(row, i)).collect())
        .collect::<Result<Vec<Row>, _>>()?;
    Ok(RowSet { columns, rows })
}

/// Runs one statement and returns the number of rows it affected, as `execute` does.
pub async fn execute(
    client: &Client,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    let params = params
        .into_iter()
        .map(parameter)
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    client.execute(statement, &refs).await.map_err(query_failed)
}

type Parameter = Box<dyn ToSql + Send + Sync>;

fn parameter(value: ParameterValue) -> Result<Parameter, Error> {
    let unsupported = |what: &str| {
        Err(Error::BadParameter(format!(
            "{what} parameters are not supported by the test host"
        )))
    };
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(v),
        ParameterValue::Int8(v) => Box::new(v),
        ParameterValue::Int16(v) => Box::new(v),
        ParameterValue::Int32(v) => Box::new(v),
        ParameterValue::Int64(v) => Box::new(v),
        ParameterValue::Floating32(v) => Box::new(v),
        ParameterValue::Floating64(v) => Box::new(v),
        ParameterValue::Str(v) => Box::new(v),
        ParameterValue::Binary(v) => Box::new(v),
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(&v)
                .map_err(|e| Error::BadParameter(format!("jsonb parameter: {e}")))?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::Date((y, m, d)) => Box::new(date(y, m, d)?),
        ParameterValue::Time((h, m, s, ns)) => Box::new(time(h, m, s, ns)?),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            Box::new(NaiveDateTime::new(date(y, mo, d)?, time(h, mi, s, ns)?))
        }
        ParameterValue::Timestamp(seconds) => Box::new(
            DateTime::<Utc>::from_timestamp(seconds, 0)
                .ok_or_else(|| Error::BadParameter(format!("timestamp {seconds} out of range")))?,
        ),
        ParameterValue::DbNull => Box::new(Null),
        ParameterValue::Uuid(_) => return unsupported("uuid"),
        ParameterValue::Decimal(_) | ParameterValue::ArrayDecimal(_) => {
            return unsupported("decimal")
        }
        ParameterValue::RangeInt32(_)
        | ParameterValue::RangeInt64(_)
        | ParameterValue::RangeDecimal(_) => return unsupported("range"),
        ParameterValue::Interval(_) => return unsupported("interval"),
    })
}

fn date(y: i32, m: u8, d: u8) -> Result<NaiveDate, Error> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| Error::BadParameter(format!("invalid date {y}-{m}-{d}")))
}

fn time(h: u8, m: u8, s: u8, ns: u32) -> Result<NaiveTime, Error> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| Error::BadParameter(format!("invalid time {h}:{m}:{s}.{ns}")))
}

/// NULL for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The binary value of a column of a type without a Spin variant.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Raw, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::JSON | Type::JSONB => DbDataType::Jsonb,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => DbDataType::ArrayStr,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

fn value(row: &tokio_postgres::Row, i: usize) -> Result<DbValue, Error> {
    fn get<'a, T: FromSql<'a>>(row: &'a tokio_postgres::Row, i: usize) -> Result<Option<T>, Error> {
        row.try_get(i)
            .map_err(|e| Error::ValueConversionFailed(format!("column {i}: {e}")))
    }
    fn wrap<T>(value: Option<T>, variant: impl FnOnce(T) -> DbValue) -> DbValue {
        value.map_or(DbValue::DbNull, variant)
    }
    let naive = |t: NaiveDateTime| {
        DbValue::Datetime((
            t.year(),
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond(),
        ))
    };
    Ok(match *row.columns()[i].type_() {
        Type::BOOL => wrap(get(row, i)?, DbValue::Boolean),
        Type::CHAR => wrap(get(row, i)?, DbValue::Int8),
        Type::INT2 => wrap(get(row, i)?, DbValue::Int16),
        Type::INT4 => wrap(get(row, i)?, DbValue::Int32),
        Type::INT8 => wrap(get(row, i)?, DbValue::Int64),
        Type::FLOAT4 => wrap(get(row, i)?, DbValue::Floating32),
        Type::FLOAT8 => wrap(get(row, i)?, DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => wrap(get(row, i)?, DbValue::Str),
        Type::BYTEA => wrap(get(row, i)?, DbValue::Binary),
        Type::JSON | Type::JSONB => wrap(get::<serde_json::Value>(row, i)?, |v| {
            DbValue::Jsonb(v.to_string().into_bytes())
        }),
        Type::DATE => wrap(get::<NaiveDate>(row, i)?, |d| {
            DbValue::Date((d.year(), d.month() as u8, d.day() as u8))
        }),
        Type::TIME => wrap(get::<NaiveTime>(row, i)?, |t| {
            DbValue::Time((
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
                t.nanosecond(),
            ))
        }),
        Type::TIMESTAMP => wrap(get(row, i)?, naive),
        Type::TIMESTAMPTZ => wrap(get::<DateTime<Utc>>(row, i)?, |t| naive(t.naive_utc())),
        Type::INT4_ARRAY => wrap(get(row, i)?, DbValue::ArrayInt32),
        Type::INT8_ARRAY => wrap(get(row, i)?, DbValue::ArrayInt64),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => wrap(get(row, i)?, DbValue::ArrayStr),
        _ => wrap(get::<Raw>(row, i)?, |raw| DbValue::Unsupported(raw.0)),
    })
}

fn query_failed(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::QueryFailed(QueryError::DbError(DbError {
            as_text: e.to_string(),
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras: Vec::new(),
        })),
        None if e.is_closed() => Error::ConnectionFailed(e.to_string()),
        None => Error::QueryFailed(QueryError::Text(e.to_string())),
    }
}

type Pg = HasSelf<State>;

fn client(state: &State, connection: &Resource<PgConnection>) -> wasmtime::Result<Arc<Client>> {
    Ok(state.table.get(connection)?.client.clone())
}

impl State {
    fn push_connection(&mut self, client: Client) -> wasmtime::Result<Resource<PgConnection>> {
        Ok(self.table.push(PgConnection {
            client: Arc::new(client),
        })?)
    }
}

impl Host for State {}

impl HostConnectionBuilder for State {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<PgConnectionBuilder>> {
        Ok(self.table.push(PgConnectionBuilder {
            address,
            ca_root: None,
        })?)
    }

    async fn set_ca_root(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
        certificate: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.table.get_mut(&builder)?.ca_root = Some(certificate);
        Ok(Ok(()))
    }

    async fn build(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let builder = self.table.get(&builder)?;
        let (address, ca_root) = (builder.address.clone(), builder.ca_root.clone());
        match connect(&address, ca_root.as_deref()).await {
            Ok(client) => Ok(Ok(self.push_connection(client)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn drop(&mut self, builder: Resource<PgConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

impl<T: Send> HostConnectionBuilderWithStore<T> for Pg {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let (address, ca_root) = accessor.with(|mut a| {
            let b = a.get().table.get(&builder)?;
            Ok::<_, wasmtime::Error>((b.address.clone(), b.ca_root.clone()))
        })?;
        match connect(&address, ca_root.as_deref()).await {
            Ok(client) => accessor.with(|mut a| Ok(Ok(a.get().push_connection(client)?))),
            Err(e) => Ok(Err(e)),
        }
    }
}

impl HostConnection for State {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        match connect(&address, None).await {
            Ok(client) => Ok(Ok(self.push_connection(client)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let client = client(self, &connection)?;
        Ok(query(&client, &statement, params).await)
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let client = client(self, &connection)?;
        Ok(execute(&client, &statement, params).await)
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

type QueryStreams = (
    Vec<Column>,
    StreamReader<Row>,
    FutureReader<Result<(), Error>>,
);

impl<T: Send> HostConnectionWithStore<T> for Pg {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        match connect(&address, None).await {
            Ok(client) => accessor.with(|mut a| Ok(Ok(a.get().push_connection(client)?))),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<QueryStreams, Error>> {
        let client = accessor.with(|mut a| client(a.get(), &connection))?;
        let rows = match query(&client, &statement, params).await {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut a| {
            let stream = StreamReader::new(&mut a, rows.rows)?;
            let done = FutureReader::new(&mut a, async {
                Ok::<_, wasmtime::Error>(Ok::<(), Error>(()))
            })?;
            Ok(Ok((rows.columns, stream, done)))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let client = accessor.with(|mut a| client(a.get(), &connection))?;
        Ok(execute(&client, &statement, params).await)
    }
}
