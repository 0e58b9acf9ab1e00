package classify

import "strings"

// Name lists the classifier consults. Functions, variables and tables not
// listed are treated as unsafe (primary): an unknown function may be a stored
// function that writes.

func nameSet(lists ...string) map[string]bool {
	set := make(map[string]bool)
	for _, list := range lists {
		for _, name := range strings.Fields(list) {
			set[name] = true
		}
	}
	return set
}

// Built-in functions whose result is the same on every backend the session
// uses, given the replayed session state (names as the TiDB parser reports
// them, lower case). Used to decide whether SET @v = expr can be replayed.
const deterministicFunctionNames = `
	abs acos asin atan atan2 ceil ceiling conv cos cot crc32 crc32c degrees exp floor ln log log10 log2 mod
	oct pi pow power radians round sign sin sqrt tan truncate bit_count
	ascii bin bit_length char_func char_length character_length chr concat concat_ws elt export_set field
	find_in_set format from_base64 hex insert_func instr lcase left length lengthb locate lower lpad ltrim
	make_set mid octet_length ord position quote regexp regexp_instr regexp_like regexp_replace
	regexp_substr repeat replace reverse right rpad rtrim soundex space strcmp substr substring
	substring_index to_base64 translate trim ucase unhex upper weight_string natural_sort_key sformat
	convert collation charset coercibility compress uncompress uncompressed_length md5 sha sha1 sha2
	aes_encrypt aes_decrypt des_encrypt des_decrypt encode decode encrypt password old_password kdf
	to_char format_bytes format_pico_time
	adddate addtime convert_tz date date_add date_format date_sub datediff day dayname dayofmonth
	dayofweek dayofyear extract from_days from_unixtime get_format hour last_day makedate maketime
	microsecond minute month monthname period_add period_diff quarter sec_to_time second str_to_date
	subdate subtime time time_format time_to_sec timediff timestamp timestampadd timestampdiff to_days
	to_seconds week weekday weekofyear year yearweek add_months
	'tidb` + "`" + `.(dateliteral 'tidb` + "`" + `.(timeliteral 'tidb` + "`" + `.(timestampliteral
	if ifnull nvl nvl2 nullif coalesce greatest least isnull interval decode_oracle
	database schema user current_user session_user system_user current_role
	json_array json_array_append json_array_insert json_array_intersect json_compact json_contains
	json_contains_path json_depth json_detailed json_equals json_exists json_extract json_insert json_keys
	json_length json_loose json_merge json_merge_patch json_merge_preserve json_normalize json_object
	json_object_filter_keys json_object_to_array json_overlaps json_pretty json_query json_quote
	json_remove json_replace json_schema_valid json_search json_set json_type json_unquote json_valid
	json_value json_memberof json_storage_size json_storage_free
	inet_aton inet_ntoa inet6_aton inet6_ntoa is_ipv4 is_ipv4_compat is_ipv4_mapped is_ipv6 name_const
	column_create column_get column_json column_list column_exists column_add column_delete column_check
	point linestring polygon multipoint multilinestring multipolygon geometrycollection
	astext aswkt asbinary aswkb geomfromtext geomfromwkb pointfromtext pointfromwkb
`

// Built-in functions that only read, but whose result differs between
// backends or calls (time, randomness, server version, sleeping).
const volatileFunctionNames = `
	curdate current_date current_time current_timestamp curtime localtime localtimestamp now sysdate
	unix_timestamp utc_date utc_time utc_timestamp rand random_bytes uuid uuid_short sys_guid
	version sleep benchmark
`

var (
	deterministicFunctions = nameSet(deterministicFunctionNames)
	readOnlyFunctions      = nameSet(deterministicFunctionNames, volatileFunctionNames)
)

func isDeterministicFunction(name string) bool {
	return deterministicFunctions[name] || hasAnyPrefix(name, "st_", "mbr")
}

func isReadOnlyFunction(name string) bool {
	return readOnlyFunctions[name] || hasAnyPrefix(name, "st_", "mbr")
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// sessionFunction is a built-in function whose meaning depends on the backend
// the session runs it on.
type sessionFunction struct {
	route       Route
	sameBackend bool
	pins        pinSet
	unpins      pinSet
	reason      string
}

var sessionFunctions = map[string]sessionFunction{
	"get_lock":          {route: Primary, pins: pinNamedLock, reason: "get_lock"},
	"release_all_locks": {route: Primary, unpins: pinNamedLock, reason: "release_all_locks"},
	"release_lock":      {route: Primary, reason: "named lock"},
	"is_free_lock":      {route: Primary, reason: "named lock"},
	"is_used_lock":      {route: Primary, reason: "named lock"},
	"nextval":           {route: Primary, reason: "nextval"},
	"setval":            {route: Primary, reason: "nextval"},
	"lastval":           {route: Primary, reason: "lastval"},
	// Only writes set LAST_INSERT_ID, and they run on the primary: the
	// backend of the previous statement would be wrong after a replica read.
	"last_insert_id":   {route: Primary, reason: "last_insert_id"},
	"found_rows":       {route: Replica, sameBackend: true, reason: "found_rows"},
	"row_count":        {route: Replica, sameBackend: true, reason: "row_count"},
	"connection_id":    {route: Primary, reason: "connection_id"},
	"master_pos_wait":  {route: Primary, reason: "replication wait"},
	"master_gtid_wait": {route: Primary, reason: "replication wait"},
	"source_pos_wait":  {route: Primary, reason: "replication wait"},
	"load_file":        {route: Primary, reason: "server file"},
}

// sysVarRoute says where a read of @@name must run. Global values, server
// identity and replication state belong to the primary the client believes it
// talks to; per-statement results belong to the backend that ran the
// previous statement; replayed session values are the same everywhere.
func sysVarRoute(name string, global bool) (route Route, sameBackend bool) {
	switch {
	case global || serverStateVariables[name] || hasAnyPrefix(name, "wsrep_", "gtid_", "rpl_semi_sync_"):
		return Primary, false
	case statementResultVariables[name]:
		return Replica, true
	}
	return Replica, false
}

var (
	// Includes what the session's writes left on the primary.
	serverStateVariables = nameSet(`server_id server_uuid hostname port socket read_only innodb_read_only
		log_bin log_slave_updates pseudo_thread_id thread_id last_insert_id identity insert_id last_gtid`)
	statementResultVariables = nameSet(`warning_count error_count`)
)

// canonicalSysVar merges the aliases of a system variable, so that replay
// de-duplication sees one name.
func canonicalSysVar(name string) string {
	switch name {
	case "tx_isolation":
		return "transaction_isolation"
	case "tx_read_only":
		return "transaction_read_only"
	}
	return name
}

// serverStateTable reports tables whose content describes the server that
// answers rather than replicated data.
func serverStateTable(schema, name string) bool {
	switch schema {
	case "performance_schema", "sys":
		return true
	case "information_schema":
		return serverStateTables[name] || hasAnyPrefix(name, "innodb_", "wsrep_", "thread_pool_")
	}
	return false
}

var serverStateTables = nameSet(`processlist global_status session_status global_variables
	session_variables user_statistics client_statistics index_statistics table_statistics
	metadata_lock_info`)
