-- Next edit end to end, against the real server: on its fake engine (`serve --fake-engine`, model
-- `fake:rename=x>count`: every `x` near a rename becomes `count`), and on the embedded default model
-- (run.sh runs both). The parameter's rename is typed as a user types it; what is drawn and what
-- accept leaves are checked against the server's own answer.
return function(H, opts)
  local api = vim.api
  local plugin = require('diffusion_lsp')
  local server = require('diffusion_lsp.server')
  local next_edit = require('diffusion_lsp.next_edit')
  local preview = require('diffusion_lsp.next_edit_preview')

  local SOURCE = { 'def f(x):', '    y = x + 1', '    return y' }
  local RENAMED = { 'def f(count):', '    y = count + 1', '    return y' }

  local workdir = vim.fn.tempname()
  vim.fn.mkdir(workdir, 'p')

  -- The server's next-edit answers and the didShowInlineEdit notifications, passed on unchanged.
  local answers = {}
  local shown = {}
  local original_request = server.request
  server.request = function(client, method, params, handler, bufnr)
    return original_request(client, method, params, function(err, result, ...)
      if method == next_edit.METHOD then
        table.insert(answers, { params = params, err = err, result = result })
      end
      return handler(err, result, ...)
    end, bufnr)
  end
  local original_notify = server.notify
  server.notify = function(client, method, params)
    if method == next_edit.SHOWN then
      table.insert(shown, params)
    end
    return original_notify(client, method, params)
  end

  local configured = false
  local counter = 0
  local function open()
    if not configured then
      configured = true
      plugin.setup({
        cmd = opts.cmd,
        settings = opts.settings,
        filetypes = { 'python' },
        inline = { auto_trigger = false },
        next_edit = { debounce_ms = 100 },
      })
    end
    counter = counter + 1
    local path = string.format('%s/rename%d.py', workdir, counter)
    vim.fn.writefile(SOURCE, path)
    vim.cmd('edit ' .. vim.fn.fnameescape(path))
    local bufnr = api.nvim_get_current_buf()
    H.wait_for('the server to attach', function()
      return server.client_for_buf(bufnr)
    end, 30000)
    local state = H.wait_for('the model to load', function()
      local st = plugin.status().state
      return (st == 'ready' or st == 'error') and st
    end, 60000)
    H.eq('ready', state, 'status (' .. vim.inspect(plugin.status()) .. ')')
    return bufnr
  end

  local function lines(bufnr)
    return api.nvim_buf_get_lines(bufnr, 0, -1, false)
  end

  local function marks(bufnr)
    return api.nvim_buf_get_extmarks(bufnr, next_edit.ns, 0, -1, { details = true })
  end

  local function screen(row, from, n)
    local s = {}
    for c = from, from + n - 1 do
      table.insert(s, vim.fn.screenstring(row, c))
    end
    return table.concat(s)
  end

  --- `text_lines` with the server's edit `item` applied (ASCII: characters are bytes).
  local function applied(text_lines, item)
    local s, e = item.range.start, item.range['end']
    local out = vim.list_slice(text_lines, 1, s.line)
    local new = vim.split(text_lines[s.line + 1]:sub(1, s.character) .. item.text
      .. text_lines[e.line + 1]:sub(e.character + 1), '\n', { plain = true })
    vim.list_extend(out, new)
    return vim.list_extend(out, vim.list_slice(text_lines, e.line + 2, #text_lines))
  end

  --- Renames the parameter as a user does (cursor on it, `cw`, the new name, <Esc>), then waits for the
  --- preview the pause brings. Returns the server's edit as drawn.
  local function rename_and_wait(bufnr)
    api.nvim_win_set_cursor(0, { 1, 6 })
    H.feed('cwcount<Esc>')
    H.wait_for('the typed rename, back in normal mode', function()
      return api.nvim_get_mode().mode == 'n' and lines(bufnr)[1] == 'def f(count):'
    end)
    local got = H.wait_for('the next edit preview', function()
      for _, a in ipairs(answers) do
        if a.err and a.err.code ~= -32800 then -- RequestCancelled: superseded by a newer request
          return { err = a.err }
        end
      end
      local edit = next_edit.current(bufnr)
      return edit and { edit = edit }
    end, 60000)
    H.eq(nil, got.err, 'the server answered textDocument/copilotInlineEdit with an error')
    return got.edit
  end

  H.test('e2e next edit: the rename of a parameter brings the edit of its use, drawn at line 2', function()
    local bufnr = open()
    local edit = rename_and_wait(bufnr)
    local answer = answers[#answers]
    H.eq(vim.uri_from_bufnr(bufnr), answer.params.textDocument.uri, 'asked for this file')
    H.eq(1, edit.row, 'the edit is on line 2')
    H.truthy(edit.text:find('count', 1, true), 'the new text has count: ' .. vim.inspect(edit.text))
    H.eq(edit.item, shown[#shown].item, 'didShowInlineEdit carries the edit as received')
    local want = applied(lines(bufnr), edit.item)
    H.eq(RENAMED[2], want[2], "the server's edit makes line 2 what the rename needs")
    H.truthy(#marks(bufnr) >= 2, 'extmarks drawn: ' .. vim.inspect(marks(bufnr)))
    vim.cmd('redraw')
    local row = vim.fn.screenpos(0, 2, 1).row
    if preview.supports_inline() then
      local removed = lines(bufnr)[2]:sub(edit.col + 1, edit.end_col)
      local inline_line = lines(bufnr)[2]:sub(1, edit.end_col) .. edit.text .. lines(bufnr)[2]:sub(edit.end_col + 1)
      H.eq(inline_line, screen(row, 1, #inline_line), 'line 2 on screen: ' .. removed .. ' struck, the new text after')
    else
      H.eq(RENAMED[2], screen(row + 1, 1, #RENAMED[2]), 'the line as it will read, below line 2')
    end
    -- Fed keys run when Neovim next reads its input, which a loaded machine may delay past the
    -- next line: wait for what each key does (its result is checked exactly below).
    H.feed('<M-g>')
    pcall(H.wait_for, 'jump', function()
      return vim.deep_equal({ 2, edit.col }, api.nvim_win_get_cursor(0))
    end, 5000)
    H.eq({ 2, edit.col }, api.nvim_win_get_cursor(0), 'jump: the cursor at the edit')
    H.feed('<M-a>')
    pcall(H.wait_for, 'accept', function()
      return vim.deep_equal(RENAMED, lines(bufnr))
    end, 5000)
    H.eq(RENAMED, lines(bufnr), 'accept: the buffer is the renamed function')
    H.eq(0, #marks(bufnr), 'the preview is gone')
  end)

  H.test('e2e next edit: dismiss drops the preview and leaves the buffer as typed', function()
    local bufnr = open()
    rename_and_wait(bufnr)
    vim.cmd('DiffusionNextEditDismiss')
    H.eq(nil, next_edit.current(bufnr), 'dismissed')
    H.eq(0, #marks(bufnr), 'no extmarks left')
    H.eq({ RENAMED[1], SOURCE[2], SOURCE[3] }, lines(bufnr), 'only the typed rename')
  end)

  H.test('e2e next edit: a change elsewhere dismisses the preview', function()
    local bufnr = open()
    rename_and_wait(bufnr)
    api.nvim_win_set_cursor(0, { 3, 0 })
    H.feed('A  # done<Esc>')
    H.wait_for('the preview to go', function()
      return next_edit.current(bufnr) == nil and #marks(bufnr) == 0
    end)
    H.eq({ RENAMED[1], SOURCE[2], SOURCE[3] .. '  # done' }, lines(bufnr), 'nothing applied')
    next_edit.clear(bufnr)
  end)
end
