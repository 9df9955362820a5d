--- Options for diffusion_lsp: defaults, renamed keys, and validation with a clear message per bad value.
local M = {}

M.defaults = {
  -- The server command: a string (one word) or a list of words. `diffusion-lsp` serves LSP on stdio.
  cmd = { 'diffusion-lsp' },
  -- Extra environment for the server process (table of strings), or nil.
  cmd_env = nil,
  -- Filetypes the server attaches to: the server's language ids (diffusion_lsp/region/languages.py;
  -- tests/test_language_facts.py checks that this list says the same).
  filetypes = { 'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'rust',
    'c', 'cpp', 'java', 'lua' },
  -- Server settings (the `diffusionLsp` section, camelCase keys as in docs/configuration.md). Sent as
  -- initializationOptions and answered to workspace/configuration.
  settings = {},
  inline = {
    enabled = true,
    -- 'auto': Neovim's own vim.lsp.inline_completion where it exists (0.12+), else this plugin's ghost text.
    -- 'native' forces the former, 'plugin' the latter (word and line accept need 'plugin').
    backend = 'auto',
    -- Request a suggestion as you type (after debounce_ms without typing); false: only on the trigger key.
    auto_trigger = true,
    debounce_ms = 75,
    hl_group = 'DiffusionGhostText',
    -- Insert-mode keys; false disables one. None of them is a key copilot.vim or copilot.lua maps by
    -- default (<Tab>, <C-]>, <M-]>, <M-[>, <M-\\>, <M-Right>, <M-C-Right>, <M-l>, <M-CR>), so both can run.
    keys = {
      accept = '<M-y>',
      accept_word = '<M-w>',
      accept_line = '<M-j>',
      dismiss = '<M-e>',
      next = '<M-n>',
      prev = '<M-p>',
      trigger = '<M-s>',
    },
    -- true: <Tab> also accepts the whole suggestion while one is shown (and types a Tab otherwise).
    tab_accept = false,
  },
  -- Next edit: where the next change goes, drawn there as a diff preview (docs/neovim.md, "Next edit").
  next_edit = {
    enabled = true,
    -- Ask after each pause in editing (debounce_ms without a change); false: only :DiffusionNextEdit.
    auto = true,
    debounce_ms = 300,
    -- Normal- and insert-mode keys while an edit is shown (otherwise they do what they did); false
    -- disables one, `keymaps = false` all. None is a copilot.vim / copilot.lua default or an inline key.
    keymaps = {
      jump = '<M-g>',
      accept = '<M-a>',
      dismiss = '<M-d>',
    },
  },
  -- Normal- and insert-mode key, in buffers the server is attached to, for :DiffusionCancel (stop the
  -- running Fill/Fix/Refine jobs and pending suggestions); false: none.
  cancel_key = '<M-c>',
  -- Echo the server's progress ($/progress: model loading, Fill/Fix/Refine jobs) on the command line.
  progress = true,
  -- Called as on_attach(client, bufnr) after the server attaches to a buffer.
  on_attach = nil,
  -- Extra client capabilities merged over Neovim's defaults.
  capabilities = nil,
}

--- Old option names and where they live now (kept so that old configurations keep working).
M.renames = {
  server_cmd = 'cmd',
  debounce_ms = 'inline.debounce_ms',
  auto_trigger = 'inline.auto_trigger',
  keymaps = 'inline.keys',
}

local KEY_NAMES = { 'accept', 'accept_word', 'accept_line', 'dismiss', 'next', 'prev', 'trigger' }
local NEXT_EDIT_KEYS = { 'jump', 'accept', 'dismiss' }

local function deepcopy(t)
  return vim.deepcopy(t)
end

local function is_list_of_strings(v)
  if type(v) ~= 'table' then
    return false
  end
  local n = 0
  for k, item in pairs(v) do
    if type(k) ~= 'number' or type(item) ~= 'string' then
      return false
    end
    n = n + 1
  end
  return n == #v
end

local function set_path(t, path, value)
  local parts = vim.split(path, '.', { plain = true })
  for i = 1, #parts - 1 do
    t[parts[i]] = t[parts[i]] or {}
    t = t[parts[i]]
  end
  t[parts[#parts]] = value
end

--- Moves renamed keys to their new place; returns the list of renames applied.
local function apply_renames(opts)
  local applied = {}
  for old, new in pairs(M.renames) do
    if opts[old] ~= nil then
      set_path(opts, new, opts[old])
      opts[old] = nil
      table.insert(applied, string.format('%s is now %s', old, new))
    end
  end
  table.sort(applied)
  return applied
end

local function check(errors, ok, name, expected, got)
  if not ok then
    table.insert(errors, { path = name, message = string.format('%s: expected %s, got %s', name, expected,
      vim.inspect(got)) })
  end
end

--- Checks an option table already merged over the defaults; returns a list of {path, message}.
function M.errors(cfg)
  local errors = {}
  local cmd = cfg.cmd
  check(errors, (type(cmd) == 'string' and cmd ~= '') or (is_list_of_strings(cmd) and #cmd > 0),
    'cmd', 'a non-empty string or list of strings', cmd)
  check(errors, cfg.cmd_env == nil or type(cfg.cmd_env) == 'table', 'cmd_env', 'a table or nil', cfg.cmd_env)
  check(errors, is_list_of_strings(cfg.filetypes), 'filetypes', 'a list of strings', cfg.filetypes)
  check(errors, type(cfg.settings) == 'table', 'settings', 'a table', cfg.settings)
  check(errors, cfg.on_attach == nil or type(cfg.on_attach) == 'function', 'on_attach', 'a function or nil',
    cfg.on_attach)
  check(errors, cfg.capabilities == nil or type(cfg.capabilities) == 'table', 'capabilities',
    'a table or nil', cfg.capabilities)
  check(errors, cfg.cancel_key == false or (type(cfg.cancel_key) == 'string' and cfg.cancel_key ~= ''),
    'cancel_key', 'a key string or false', cfg.cancel_key)
  check(errors, type(cfg.progress) == 'boolean', 'progress', 'a boolean', cfg.progress)
  M.next_edit_errors(cfg.next_edit, errors)
  local inline = cfg.inline
  if type(inline) ~= 'table' then
    check(errors, false, 'inline', 'a table', inline)
    return errors
  end
  check(errors, type(inline.enabled) == 'boolean', 'inline.enabled', 'a boolean', inline.enabled)
  check(errors, inline.backend == 'auto' or inline.backend == 'native' or inline.backend == 'plugin',
    'inline.backend', "'auto', 'native' or 'plugin'", inline.backend)
  check(errors, type(inline.auto_trigger) == 'boolean', 'inline.auto_trigger', 'a boolean', inline.auto_trigger)
  check(errors, type(inline.debounce_ms) == 'number' and inline.debounce_ms >= 0
    and inline.debounce_ms == math.floor(inline.debounce_ms),
    'inline.debounce_ms', 'a whole number of milliseconds >= 0', inline.debounce_ms)
  check(errors, type(inline.hl_group) == 'string' and inline.hl_group ~= '', 'inline.hl_group',
    'a highlight group name', inline.hl_group)
  check(errors, type(inline.tab_accept) == 'boolean', 'inline.tab_accept', 'a boolean', inline.tab_accept)
  if type(inline.keys) ~= 'table' then
    check(errors, false, 'inline.keys', 'a table', inline.keys)
  else
    local known = {}
    for _, name in ipairs(KEY_NAMES) do
      known[name] = true
      local key = inline.keys[name]
      check(errors, key == false or (type(key) == 'string' and key ~= ''), 'inline.keys.' .. name,
        'a key string or false', key)
    end
    for name in pairs(inline.keys) do
      if not known[name] then
        table.insert(errors, { path = 'inline.keys.' .. tostring(name), message = string.format(
          'inline.keys.%s: unknown key (known: %s)', tostring(name), table.concat(KEY_NAMES, ', ')) })
      end
    end
  end
  return errors
end

local function check_keys(errors, keys, prefix, names)
  if type(keys) ~= 'table' then
    check(errors, false, prefix, 'a table', keys)
    return
  end
  local known = {}
  for _, name in ipairs(names) do
    known[name] = true
    local key = keys[name]
    check(errors, key == false or (type(key) == 'string' and key ~= ''), prefix .. '.' .. name,
      'a key string or false', key)
  end
  for name in pairs(keys) do
    if not known[name] then
      table.insert(errors, { path = prefix .. '.' .. tostring(name), message = string.format(
        '%s.%s: unknown key (known: %s)', prefix, tostring(name), table.concat(names, ', ')) })
    end
  end
end

--- Checks the `next_edit` table (merged over its defaults); appends {path, message} to `errors`.
function M.next_edit_errors(ne, errors)
  if type(ne) ~= 'table' then
    check(errors, false, 'next_edit', 'a table', ne)
    return errors
  end
  check(errors, type(ne.enabled) == 'boolean', 'next_edit.enabled', 'a boolean', ne.enabled)
  check(errors, type(ne.auto) == 'boolean', 'next_edit.auto', 'a boolean', ne.auto)
  check(errors, type(ne.debounce_ms) == 'number' and ne.debounce_ms >= 0
    and ne.debounce_ms == math.floor(ne.debounce_ms),
    'next_edit.debounce_ms', 'a whole number of milliseconds >= 0', ne.debounce_ms)
  check_keys(errors, ne.keymaps, 'next_edit.keymaps', NEXT_EDIT_KEYS)
  return errors
end

--- Lists keys of `user` that are not in `defaults` (dotted paths), for a clear message on typos.
local function unknown_keys(user, defaults, prefix, out)
  for k, v in pairs(user) do
    local path = prefix .. tostring(k)
    if defaults[k] == nil and M.defaults_allow_nil[path] == nil then
      table.insert(out, path)
    elseif type(v) == 'table' and type(defaults[k]) == 'table' and defaults[k][1] == nil
      and path ~= 'settings' and path ~= 'inline.keys' and path ~= 'next_edit.keymaps' then
      unknown_keys(v, defaults[k], path .. '.', out)
    end
  end
  return out
end

-- Options whose default is nil (so that unknown_keys does not flag them).
M.defaults_allow_nil = { cmd_env = true, on_attach = true, capabilities = true }

local function get_path(t, path)
  for _, part in ipairs(vim.split(path, '.', { plain = true })) do
    if type(t) ~= 'table' then
      return nil
    end
    t = t[part]
  end
  return t
end

local function clear_path(t, path)
  local parts = vim.split(path, '.', { plain = true })
  for i = 1, #parts - 1 do
    t = t[parts[i]]
    if type(t) ~= 'table' then
      return
    end
  end
  t[parts[#parts]] = nil
end

--- Merges user options over the defaults and validates them. A bad or unknown value is reported and
--- replaced by its default. Returns (config, problems): problems is a list of messages, empty when all
--- is well (renamed keys are reported too).
function M.resolve(user)
  local problems = {}
  if user ~= nil and type(user) ~= 'table' then
    table.insert(problems, 'options must be a table, got ' .. type(user) .. '; using the defaults')
    user = {}
  end
  user = deepcopy(user or {})
  for _, note in ipairs(apply_renames(user)) do
    table.insert(problems, note .. ' (renamed; please update your configuration)')
  end
  if type(user.inline) == 'table' and user.inline.keys == false then
    user.inline.keys = {}
    for _, name in ipairs(KEY_NAMES) do
      user.inline.keys[name] = false
    end
  end
  if type(user.next_edit) == 'table' and user.next_edit.keymaps == false then
    user.next_edit.keymaps = {}
    for _, name in ipairs(NEXT_EDIT_KEYS) do
      user.next_edit.keymaps[name] = false
    end
  end
  local unknown = unknown_keys(user, M.defaults, '', {})
  table.sort(unknown)
  for _, path in ipairs(unknown) do
    table.insert(problems, path .. ': unknown option, ignored')
    clear_path(user, path)
  end
  -- A table where a table belongs, else the default is kept, so the deep merge below cannot fail.
  for _, path in ipairs({ 'inline', 'inline.keys', 'next_edit', 'next_edit.keymaps' }) do
    local v = get_path(user, path)
    if v ~= nil and type(v) ~= 'table' then
      table.insert(problems, string.format('%s: expected a table, got %s; using the default', path,
        vim.inspect(v)))
      clear_path(user, path)
    end
  end
  local cfg = vim.tbl_deep_extend('force', deepcopy(M.defaults), user)
  -- Lists and the settings table replace the defaults, never merge with them by index.
  for _, key in ipairs({ 'cmd', 'filetypes', 'settings' }) do
    if user[key] ~= nil then
      cfg[key] = deepcopy(user[key])
    end
  end
  for _, err in ipairs(M.errors(cfg)) do
    table.insert(problems, err.message .. '; using the default')
    local default = get_path(M.defaults, err.path)
    local parts = vim.split(err.path, '.', { plain = true })
    local parent = cfg
    for i = 1, #parts - 1 do
      parent = parent[parts[i]]
    end
    parent[parts[#parts]] = deepcopy(default)
  end
  if type(cfg.cmd) == 'string' then
    cfg.cmd = { cfg.cmd }
  end
  return cfg, problems
end

return M
