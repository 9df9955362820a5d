-- Next edit without a server: the options, how an edit is drawn (inline where this Neovim can, as
-- virtual lines where not), and the request/preview/accept cycle against a stub client that records
-- what the plugin sends and answers with a canned edit (the real server: test_next_edit_e2e.lua).
return function(H)
  local api = vim.api
  local config = require('diffusion_lsp.config')
  local next_edit = require('diffusion_lsp.next_edit')
  local preview = require('diffusion_lsp.next_edit_preview')
  local server = require('diffusion_lsp.server')
  local plugin = require('diffusion_lsp')

  local SOURCE = { 'def f(x):', '    y = x + 1', '    return y' }

  local function screen(row, from, n)
    local s = {}
    for c = from, from + n - 1 do
      table.insert(s, vim.fn.screenstring(row, c))
    end
    return table.concat(s)
  end

  local function new_buffer(content)
    local bufnr = api.nvim_create_buf(true, false)
    api.nvim_set_current_buf(bufnr)
    api.nvim_buf_set_lines(bufnr, 0, -1, false, content)
    return bufnr
  end

  --- The canned edit: `x` -> `count` on line 2 (0-based 1), characters 8..9.
  local function canned(uri, version)
    return { text = 'count', range = { start = { line = 1, character = 8 }, ['end'] = { line = 1, character = 9 } },
      textDocument = { uri = uri, version = version }, command = { title = 'accepted', command = 'stub.accepted',
        arguments = { 'id-1' } } }
  end

  H.test('next edit config: defaults, keymaps = false, bad values named and replaced', function()
    local cfg, problems = config.resolve(nil)
    H.eq({}, problems, 'problems')
    H.eq({ enabled = true, auto = true, debounce_ms = 300,
      keymaps = { jump = '<M-g>', accept = '<M-a>', dismiss = '<M-d>' } }, cfg.next_edit, 'defaults')
    local off = config.resolve({ next_edit = { keymaps = false, auto = false } })
    H.eq({ jump = false, accept = false, dismiss = false }, off.next_edit.keymaps, 'keymaps = false')
    H.eq(false, off.next_edit.auto, 'auto off')
    local bad, p2 = config.resolve({ next_edit = { debounce_ms = -1, keymaps = { accept = 3, nope = 'x' }, typo = 1 } })
    H.eq(300, bad.next_edit.debounce_ms, 'bad debounce falls back')
    H.eq('<M-a>', bad.next_edit.keymaps.accept, 'bad key falls back')
    H.eq(nil, bad.next_edit.keymaps.nope, 'unknown key dropped')
    local text = table.concat(p2, '\n')
    H.truthy(text:find('next_edit.debounce_ms: expected a whole number', 1, true), text)
    H.truthy(text:find('next_edit.keymaps.accept: expected a key string or false', 1, true), text)
    H.truthy(text:find('next_edit.keymaps.nope: unknown key', 1, true), text)
    H.truthy(text:find('next_edit.typo: unknown option', 1, true), text)
    H.eq(4, #p2, 'problems: ' .. text)
  end)

  H.test('next edit keys: none is a copilot default, an inline key or the cancel key', function()
    local function norm(key)
      return api.nvim_replace_termcodes(key, true, false, true)
    end
    local taken = {}
    for _, key in ipairs({ '<Tab>', '<Esc>', '<C-]>', '<M-]>', '<M-[>', '<M-\\>', '<M-Right>', '<M-C-Right>',
      '<M-l>', '<M-CR>', config.defaults.cancel_key }) do
      taken[norm(key)] = key
    end
    for _, key in pairs(config.defaults.inline.keys) do
      taken[norm(key)] = key
    end
    for name, key in pairs(config.defaults.next_edit.keymaps) do
      H.truthy(not taken[norm(key)], name .. ' key ' .. key .. ' is taken by ' .. tostring(taken[norm(key)]))
    end
  end)

  --- Draws the canned edit in a fresh window-filling buffer with inline virtual text on or off; returns
  --- the buffer and the screen row of line 2.
  local function draw(inline)
    local bufnr = new_buffer(SOURCE)
    local saved = preview.inline_supported
    preview.inline_supported = inline
    local previous = plugin.config
    plugin.config = config.resolve({})
    preview.define_highlights()
    local hl = api.nvim_get_hl_by_name('DiffusionNextEditDelete', true)
    H.truthy(hl.strikethrough, 'removed text is struck through: ' .. vim.inspect(hl))
    local edit = preview.edit_from_item(bufnr, 'utf-16', canned(vim.uri_from_bufnr(bufnr), 1))
    H.eq({ 1, 8, 1, 9, 'count' }, { edit.row, edit.col, edit.end_row, edit.end_col, edit.text }, 'byte range')
    next_edit.show(bufnr, edit, nil)
    plugin.config = previous
    preview.inline_supported = saved
    vim.cmd('redraw')
    return bufnr, vim.fn.screenpos(0, 2, 1).row
  end

  H.test('next edit drawn inline: x struck through as removed, count after it, the key hint at the end', function()
    -- The plugin probes for inline virtual text; Neovim has it since 0.10.
    H.eq(vim.fn.has('nvim-0.10') == 1, preview.supports_inline(), 'inline virtual text detected')
    if not preview.supports_inline() then
      return -- 0.7: the virtual-lines test below is what this Neovim draws
    end
    local bufnr, row = draw(true)
    local marks = api.nvim_buf_get_extmarks(bufnr, next_edit.ns, 0, -1, { details = true })
    local removed = vim.tbl_filter(function(m)
      return m[4].hl_group == 'DiffusionNextEditDelete'
    end, marks)
    H.eq(1, #removed, 'one removed-text mark')
    H.eq({ 1, 8, 1, 9 }, { removed[1][2], removed[1][3], removed[1][4].end_row, removed[1][4].end_col }, 'removed range')
    H.eq('    y = xcount + 1  next edit: <M-a> accept, <M-g> jump, <M-d> dismiss',
      screen(row, 1, 70), 'screen line')
    H.eq('    return y', screen(row + 1, 1, 12), 'no virtual line below')
    api.nvim_buf_delete(bufnr, { force = true })
  end)

  H.test('next edit drawn without inline virtual text: the line as it will read, below it', function()
    local bufnr, row = draw(false)
    H.eq('    y = x + 1  next edit:', screen(row, 1, 25), 'the line itself, with the hint')
    H.eq('    y = count + 1', screen(row + 1, 1, 17), 'the virtual line below')
    H.eq('    return y', screen(row + 2, 1, 12), 'the next real line pushed down')
    api.nvim_buf_delete(bufnr, { force = true })
  end)

  H.test('next edit: a multi-line replacement is shown as virtual lines even where inline works', function()
    local bufnr = new_buffer(SOURCE)
    local edit = preview.edit_from_item(bufnr, 'utf-16', { text = 'z = x\n    y = z',
      range = { start = { line = 1, character = 4 }, ['end'] = { line = 1, character = 13 } } })
    local marks = preview.marks(bufnr, edit, true, nil)
    H.eq(2, #marks, 'removed + virtual lines')
    H.eq({ { { '    ' }, { 'z = x', 'DiffusionNextEditInsert' } }, { { '    y = z', 'DiffusionNextEditInsert' } } },
      marks[2][3].virt_lines, 'virtual lines')
    api.nvim_buf_delete(bufnr, { force = true })
  end)

  -- The request cycle with a stub client ----------------------------------------------------------

  --- Replaces the server calls with recorders for the length of `fn(stub, bufnr)`.
  local function with_stub(fn)
    local saved = {}
    for _, name in ipairs({ 'client_for_buf', 'request', 'cancel_request', 'notify', 'execute_command' }) do
      saved[name] = server[name]
    end
    local previous = plugin.config
    local stub = { client = { id = 4242, offset_encoding = 'utf-16' }, requests = {}, cancelled = {}, notified = {},
      commands = {} }
    server.client_for_buf = function()
      return stub.client
    end
    server.request = function(_, method, params, handler)
      table.insert(stub.requests, { method = method, params = params, handler = handler, id = #stub.requests + 1 })
      return true, #stub.requests
    end
    server.cancel_request = function(_, id)
      table.insert(stub.cancelled, id)
    end
    server.notify = function(_, method, params)
      table.insert(stub.notified, { method = method, params = params })
    end
    server.execute_command = function(_, command, arguments)
      table.insert(stub.commands, { command = command, arguments = arguments })
      return true
    end
    plugin.config = config.resolve({ next_edit = { debounce_ms = 20 } })
    local bufnr = new_buffer(SOURCE)
    vim.bo[bufnr].modified = false
    next_edit.attach(bufnr)
    local ok, err = xpcall(fn, debug.traceback, stub, bufnr)
    next_edit.clear(bufnr)
    for name, f in pairs(saved) do
      server[name] = f
    end
    plugin.config = previous
    api.nvim_buf_delete(bufnr, { force = true })
    if not ok then
      error(err, 0)
    end
  end

  local function lines(bufnr)
    return api.nvim_buf_get_lines(bufnr, 0, -1, false)
  end

  --- Types the rename of the parameter as a user does: cursor on the `x` of line 1, `cw`, the name, <Esc>.
  local function type_rename()
    api.nvim_win_set_cursor(0, { 1, 6 })
    H.feed('cwcount<Esc>')
    H.wait_for('the typed rename, back in normal mode', function()
      return api.nvim_get_mode().mode == 'n' and api.nvim_get_current_line() == 'def f(count):'
    end)
  end

  H.test('next edit: a pause after typing asks once, the answer is drawn, announced and accepted', function()
    with_stub(function(stub, bufnr)
      type_rename()
      local request = H.wait_for('the request after the pause', function()
        return stub.requests[1]
      end)
      H.tick(60)
      H.eq(1, #stub.requests, 'one request per pause')
      H.eq('textDocument/copilotInlineEdit', request.method, 'method')
      H.eq(vim.uri_from_bufnr(bufnr), request.params.textDocument.uri, 'uri')
      H.eq(next_edit.version(bufnr), request.params.textDocument.version, 'version')
      H.eq({ line = 0, character = 10 }, request.params.position, 'position: the cursor (on the last typed char)')
      local item = canned(request.params.textDocument.uri, request.params.textDocument.version)
      request.handler(nil, { edits = { item } })
      H.truthy(next_edit.current(bufnr), 'the edit is shown')
      H.eq({ { method = 'textDocument/didShowInlineEdit', params = { item = item } } }, stub.notified, 'didShow')
      H.feed('<M-g>')
      H.eq({ 2, 8 }, api.nvim_win_get_cursor(0), 'jump: the cursor at the edit')
      H.feed('<M-a>')
      H.eq({ 'def f(count):', '    y = count + 1', '    return y' }, lines(bufnr), 'accepted')
      H.eq(0, #api.nvim_buf_get_extmarks(bufnr, next_edit.ns, 0, -1, {}), 'the preview is gone')
      H.eq({ { command = 'stub.accepted', arguments = { 'id-1' } } }, stub.commands, "the edit's command ran")
    end)
  end)

  H.test('next edit: a newer request cancels the older; a stale or empty answer shows nothing', function()
    with_stub(function(stub, bufnr)
      next_edit.request(bufnr, false)
      next_edit.request(bufnr, false)
      H.eq({ 1 }, stub.cancelled, 'the first request was cancelled')
      stub.requests[1].handler(nil, { edits = { canned(vim.uri_from_bufnr(bufnr), next_edit.version(bufnr)) } })
      H.eq(nil, next_edit.current(bufnr), 'the cancelled request answer is dropped')
      stub.requests[2].handler(nil, { edits = {} })
      H.eq(nil, next_edit.current(bufnr), 'empty: nothing shown')
      next_edit.request(bufnr, false)
      local version = next_edit.version(bufnr)
      api.nvim_buf_set_lines(bufnr, 2, 3, false, { '    return y  # changed' })
      stub.requests[3].handler(nil, { edits = { canned(vim.uri_from_bufnr(bufnr), version) } })
      H.eq(nil, next_edit.current(bufnr), 'an answer for an older text is dropped')
      next_edit.request(bufnr, false)
      stub.requests[4].handler(nil, { edits = { canned(vim.uri_from_bufnr(bufnr), next_edit.version(bufnr) - 1) } })
      H.eq(nil, next_edit.current(bufnr), 'an edit for another version is dropped')
      H.eq(0, #stub.notified, 'nothing announced')
    end)
  end)

  H.test('next edit: any change dismisses; dismiss key; accept on a changed buffer refuses', function()
    with_stub(function(stub, bufnr)
      local function shown()
        next_edit.request(bufnr, false)
        stub.requests[#stub.requests].handler(nil, { edits = { canned(vim.uri_from_bufnr(bufnr),
          next_edit.version(bufnr)) } })
        H.truthy(next_edit.current(bufnr), 'shown')
      end
      shown()
      api.nvim_win_set_cursor(0, { 3, 0 })
      H.feed('Ax<Esc>')
      H.wait_for('the change to dismiss the preview', function()
        return next_edit.current(bufnr) == nil
          and #api.nvim_buf_get_extmarks(bufnr, next_edit.ns, 0, -1, {}) == 0
      end)
      H.feed('u')
      shown()
      H.feed('<M-d>')
      H.eq(nil, next_edit.current(bufnr), 'dismissed')
      H.eq(0, #api.nvim_buf_get_extmarks(bufnr, next_edit.ns, 0, -1, {}), 'no marks left')
      H.eq(SOURCE, lines(bufnr), 'dismiss leaves the text alone')
      shown()
      -- A change the autocmds have not seen yet (no main-loop turn in between): accept must refuse.
      api.nvim_buf_set_lines(bufnr, 2, 3, false, { '    return y + 0' })
      H.truthy(next_edit.accept(), 'accept answered')
      H.eq({ SOURCE[1], SOURCE[2], '    return y + 0' }, lines(bufnr), 'nothing applied on a changed buffer')
      H.eq(nil, next_edit.current(bufnr), 'and the preview is gone')
    end)
  end)
end
