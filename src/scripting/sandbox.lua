-- The sandbox every script and function runs in (src/scripting/mod.rs runs
-- this chunk once per Lua VM, before any user code).
--
-- Redis 7.2 makes the global table and every library table read-only with
-- a patched Lua (`lua_enablereadonlytable`). Stock Lua 5.1 has no such
-- thing, so user code sees read-only *views*: empty proxy tables whose
-- metatables read through to the real tables and refuse every write with
-- Redis' texts. `rawset`, `setmetatable`, `loadstring` and `load` are
-- wrapped so they cannot reach around a view (or load bytecode). Only the
-- globals Redis allows are visible; `print`, `dofile`, `loadfile`, `os`,
-- `io`, `require`, `package` and `debug` are not, nor `getfenv`,
-- `setfenv` and `newproxy`, which Redis' security releases withdrew from
-- scripts (they reach around any sandbox).
--
-- Arguments: the real global table, the host API table (functions written
-- in Rust, see mod.rs), and the name of this chunk (frames of this chunk are
-- skipped when an error's script line is looked up).
local real, host = ...

local error, type, tostring, select, rawget = error, type, tostring, select, rawget
local raw_rawset, raw_setmetatable = rawset, setmetatable
local raw_setfenv = setfenv
local raw_loadstring, raw_load, raw_pcall = loadstring, load, pcall


-- The `redis` table (Redis' script_lua.c, eval.c): argument checks and
-- errors here, the work in the host's Rust functions.

-- Redis' luaPushErrorBuff: "-CODE msg" or "msg" (code ERR) as {err=...}.
local function err_table(buf)
    local code, msg
    if buf:sub(1, 1) == '-' then
        local space = buf:find(' ', 1, true)
        if space then
            code, msg = buf:sub(2, space - 1), buf:sub(space + 1)
        else
            code, msg = 'ERR', buf:sub(2)
        end
    else
        code, msg = 'ERR', buf
    end
    msg = (msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', ''))
    return { err = code .. ' ' .. msg }
end
host.err_table = err_table

local function raise(msg)
    error(err_table(msg))
end

local function in_run(what)
    if host.dispatch == nil then
        raise(what .. ' can only be called inside a script invocation')
    end
end

local redis = {}
-- A Rust function, so that `return redis.call(...)` keeps the script's
-- frame (a tail call into Lua would lose its line for the error).
redis.call = host.call
redis.pcall = function(...)
    in_run('redis.call/pcall')
    return (host.dispatch(false, ...))
end
-- Rust functions, like redis.call: their errors keep the script's line
-- even from a tail call.
redis.setresp = host.setresp
redis.log = function(...)
    local n = select('#', ...)
    if n < 2 then
        raise('redis.log() requires two arguments or more.')
    end
    local level = tonumber((...))
    if level == nil then
        raise('First argument must be a number (log level).')
    end
    level = math.floor(level)
    if level < 0 or level > 3 then
        raise('Invalid debug level.')
    end
    local parts = {}
    for j = 2, n do
        local v = select(j, ...)
        if type(v) == 'string' or type(v) == 'number' then
            if j ~= 2 then
                parts[#parts + 1] = ' '
            end
            parts[#parts + 1] = tostring(v)
        end
    end
    host.log(level, table.concat(parts))
end
redis.sha1hex = host.sha1hex
redis.error_reply = function(...)
    local e = ...
    if select('#', ...) ~= 1 or type(e) ~= 'string' then
        return err_table('wrong number or type of arguments')
    end
    if e:sub(1, 1) ~= '-' then
        e = '-' .. e
    end
    return err_table(e)
end
redis.status_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then
        return err_table('wrong number or type of arguments')
    end
    return { ok = s }
end
redis.set_repl = function(...)
    in_run('redis.set_repl')
    if select('#', ...) ~= 1 then
        raise('redis.set_repl() requires two arguments.')
    end
    local flags = tonumber((...)) or 0
    if flags ~= 0 and flags ~= 1 and flags ~= 2 and flags ~= 3 then
        raise('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.')
    end
end
redis.replicate_commands = function()
    return true
end
redis.breakpoint = function()
    return false
end
redis.debug = function() end
redis.acl_check_cmd = host.acl_check_cmd
redis.REDIS_VERSION = host.version
redis.REDIS_VERSION_NUM = host.version_num
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
real.redis = redis

local READONLY = 'Attempt to modify a readonly table'
local protected = raw_setmetatable({}, { __mode = 'k' })

-- From rawset and setmetatable: Redis raises these from C, without the
-- script's position in the message.
local function refuse()
    error(READONLY, 0)
end

local function readonly_newindex()
    error(READONLY, 2)
end

-- A read-only view of `t`. `missing`, when given, is called for a key `t`
-- lacks (the global table's "nonexistent global variable" error).
local function view_of(t, missing)
    local view = {}
    local mt = { __newindex = readonly_newindex }
    if missing then
        mt.__index = function(_, k)
            local v = t[k]
            if v == nil then
                missing(k)
            end
            return v
        end
    else
        mt.__index = t
    end
    -- getmetatable(view) shows a read-only view of the metatable itself.
    local shown = raw_setmetatable({}, { __index = mt, __newindex = readonly_newindex, __metatable = false })
    mt.__metatable = shown
    raw_setmetatable(view, mt)
    protected[view] = true
    protected[shown] = true
    return view
end

-- What scripts see as globals: the allowed names, libraries as views.
local visible = {}
local G = view_of(visible, function(k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end)

local allowed = {
    'xpcall', 'tostring', 'setmetatable', 'next', 'assert', 'tonumber', 'rawequal',
    'collectgarbage', 'getmetatable', 'rawset', 'pcall', 'coroutine', 'type', 'select',
    'unpack', 'gcinfo', 'pairs', 'rawget', 'ipairs', '_VERSION', 'error',
    'string', 'math', 'table', 'cjson', 'bit', 'cmsgpack', 'struct', 'redis',
    'loadstring', 'load',
}

-- Redis' pcall hands back the message of an error table ({err = ...}).
local function pcall_result(ok, ...)
    if ok then
        return ok, ...
    end
    local e = ...
    if type(e) == 'userdata' then
        -- An error raised from Rust (redis.call's): its message.
        local msg = host.error_text(e)
        if msg ~= nil then
            return false, msg
        end
    end
    if type(e) == 'table' then
        local msg = rawget(e, 'err')
        if type(msg) == 'string' or type(msg) == 'number' then
            return false, msg
        end
    end
    return false, e
end

local wrappers = {
    rawset = function(t, k, v)
        if protected[t] then
            refuse()
        end
        return raw_rawset(t, k, v)
    end,
    setmetatable = function(t, mt)
        if protected[t] then
            refuse()
        end
        return raw_setmetatable(t, mt)
    end,
    loadstring = function(s, name)
        if type(s) == 'string' and s:byte(1) == 27 then
            return nil, 'binary chunks are not allowed'
        end
        local f, e = raw_loadstring(s, name)
        if f then
            raw_setfenv(f, G)
        end
        return f, e
    end,
    load = function(fn, name)
        local first = true
        local reader = function()
            local piece = fn()
            if first and type(piece) == 'string' and #piece > 0 then
                first = false
                if piece:byte(1) == 27 then
                    error('binary chunks are not allowed')
                end
            end
            return piece
        end
        local f, e = raw_load(reader, name)
        if f then
            raw_setfenv(f, G)
        end
        return f, e
    end,
    pcall = function(f, ...)
        return pcall_result(raw_pcall(f, ...))
    end,
}

-- The libraries' tables become views too (and so do tables inside them).
local function protect(v, depth)
    if type(v) ~= 'table' or depth > 3 then
        return v
    end
    local copy = {}
    for k, x in next, v do
        copy[k] = protect(x, depth + 1)
    end
    return view_of(copy)
end

for _, name in ipairs(allowed) do
    local v = wrappers[name] or real[name]
    visible[name] = protect(v, 0)
end
visible._G = G

-- Functions (FUNCTION LOAD). A library's code and the functions it
-- registers run in `FG`: while the library loads, it sees only the load
-- API (`redis.register_function`, `redis.log`, the version); afterwards,
-- when its functions run, the same globals as EVAL scripts (Redis'
-- function_lua.c switches one metatable's __index the same way).
local loading = nil
local pending = nil
local switch = raw_setmetatable({}, {
    __index = function(_, k)
        if loading then
            return loading[k]
        end
        return visible[k]
    end,
})
local FG = view_of(switch, function(k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end)

local known_flags = {
    ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
    ['no-cluster'] = true, ['allow-cross-slot-keys'] = true,
}

local function is_stringy(v)
    return type(v) == 'string' or type(v) == 'number'
end

local function register_function(...)
    if pending == nil then
        raise('redis.register_function can only be called on FUNCTION LOAD command')
    end
    local n = select('#', ...)
    if n < 1 or n > 2 then
        raise('wrong number of arguments to redis.register_function')
    end
    local name, callback, flags, description
    if n == 1 then
        local t = ...
        if type(t) ~= 'table' then
            raise('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
        end
        for k, v in next, t do
            if not is_stringy(k) then
                raise('named argument key given to redis.register_function is not a string')
            end
            local key = string.lower(tostring(k))
            if key == 'function_name' then
                if not is_stringy(v) then
                    raise('function_name argument given to redis.register_function must be a string')
                end
                name = tostring(v)
            elseif key == 'description' then
                if not is_stringy(v) then
                    raise('description argument given to redis.register_function must be a string')
                end
                description = tostring(v)
            elseif key == 'callback' then
                if type(v) ~= 'function' then
                    raise('callback argument given to redis.register_function must be a function')
                end
                callback = v
            elseif key == 'flags' then
                if type(v) ~= 'table' then
                    raise('flags argument to redis.register_function must be a table representing function flags')
                end
                flags = {}
                local j = 1
                while true do
                    local f = v[j]
                    if f == nil then
                        break
                    end
                    if not is_stringy(f) or not known_flags[string.lower(tostring(f))] then
                        raise('unknown flag given')
                    end
                    flags[#flags + 1] = string.lower(tostring(f))
                    j = j + 1
                end
            else
                raise('unknown argument given to redis.register_function')
            end
        end
        if name == nil then
            raise('redis.register_function must get a function name argument')
        end
        if callback == nil then
            raise('redis.register_function must get a callback argument')
        end
    else
        name, callback = ...
        if not is_stringy(name) then
            raise('first argument to redis.register_function must be a string')
        end
        name = tostring(name)
        if type(callback) ~= 'function' then
            raise('second argument to redis.register_function must be a function')
        end
    end
    if not string.find(name, '^[%w_]+$') then
        raise('Function names can only contain letters, numbers, or underscores(_) and must be at least one character long')
    end
    if pending[name] then
        raise('Function already exists in the library')
    end
    pending[name] = true
    pending[#pending + 1] = { name = name, callback = callback, flags = flags or {}, description = description }
end

local missing_field = function(k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end
local load_redis = {
    register_function = register_function,
    log = redis.log,
    LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
    REDIS_VERSION = host.version,
    REDIS_VERSION_NUM = host.version_num,
}
local load_api = { redis = view_of(load_redis, missing_field) }
-- Run a library's compiled chunk: ok, the error message, the functions it
-- registered ({name, callback, flags, description}, in order).
local function load_library(chunk)
    loading, pending = load_api, {}
    local ok, err = raw_pcall(chunk)
    local registered = pending
    loading, pending = nil, nil
    if ok then
        return true, nil, registered
    end
    if type(err) == 'table' and is_stringy(rawget(err, 'err')) then
        return false, tostring(rawget(err, 'err')), nil
    end
    if type(err) == 'string' or type(err) == 'number' then
        return false, 'ERR ' .. tostring(err), nil
    end
    -- Raised from Rust (the load timeout): the host reads its message.
    return false, err, nil
end

-- KEYS and ARGV of the running EVAL are set by the host, in `visible`.
return G, visible, FG, load_library
