-- Tests that need no server: option validation, ghost-text rendering on the screen, word/line splitting.
return function(H)
  local config = require('diffusion_lsp.config')
  local inline = require('diffusion_lsp.inline')

  H.test('config: defaults when no options are given', function()
    local cfg, problems = config.resolve(nil)
    H.eq({}, problems, 'problems')
    H.eq({ 'diffusion-lsp' }, cfg.cmd, 'cmd')
    H.eq(75, cfg.inline.debounce_ms, 'debounce')
    H.eq('<M-y>', cfg.inline.keys.accept, 'accept key')
    H.eq(false, cfg.inline.tab_accept, 'Tab accept is opt-in')
  end)

  H.test('keys: no default key is one that copilot.vim or copilot.lua maps by default', function()
    -- copilot.vim (:h copilot-maps) and copilot.lua (suggestion.keymap and panel.keymap defaults).
    local copilot = { '<Tab>', '<C-]>', '<M-]>', '<M-[>', '<M-\\>', '<M-Right>', '<M-C-Right>', '<M-l>', '<M-CR>' }
    local function norm(key)
      return vim.api.nvim_replace_termcodes(key, true, false, true)
    end
    local taken = {}
    for _, key in ipairs(copilot) do
      taken[norm(key)] = key
    end
    local mine = vim.tbl_values(config.defaults.inline.keys)
    table.insert(mine, config.defaults.cancel_key)
    for _, key in ipairs(mine) do
      H.truthy(not taken[norm(key)], key .. ' is also a copilot key')
    end
  end)

  H.test('config: tab_accept, cancel_key and progress are checked', function()
    local cfg, problems = config.resolve({ inline = { tab_accept = 'yes' }, cancel_key = 3, progress = false })
    H.eq(false, cfg.inline.tab_accept, 'bad tab_accept falls back')
    H.eq('<M-c>', cfg.cancel_key, 'bad cancel_key falls back')
    H.eq(false, cfg.progress, 'progress can be turned off')
    H.eq(2, #problems, 'problems: ' .. table.concat(problems, '; '))
    local cfg2 = config.resolve({ cancel_key = false })
    H.eq(false, cfg2.cancel_key, 'the cancel key can be disabled')
  end)

  H.test('config: a bad value is named and replaced by its default; good ones are kept', function()
    local cfg, problems = config.resolve({
      cmd = 'my-server',
      filetypes = { 'python' },
      inline = { debounce_ms = 'fast', keys = { accept = '<Tab>', dismiss = false, nope = 'x' } },
      typo = true,
    })
    H.eq({ 'my-server' }, cfg.cmd, 'a string cmd becomes a list')
    H.eq({ 'python' }, cfg.filetypes, 'filetypes replace the default list')
    H.eq(75, cfg.inline.debounce_ms, 'bad debounce falls back to the default')
    H.eq('<Tab>', cfg.inline.keys.accept, 'accept key')
    H.eq(false, cfg.inline.keys.dismiss, 'a key can be disabled')
    H.eq(nil, cfg.inline.keys.nope, 'unknown key dropped')
    local text = table.concat(problems, '\n')
    H.truthy(text:find('inline.debounce_ms: expected a whole number', 1, true), 'debounce named: ' .. text)
    H.truthy(text:find('typo: unknown option', 1, true), 'typo named: ' .. text)
    H.truthy(text:find('inline.keys.nope: unknown key', 1, true), 'unknown key named: ' .. text)
    H.eq(3, #problems, 'number of problems')
  end)

  H.test('config: renamed options still work and are reported', function()
    local cfg, problems = config.resolve({ debounce_ms = 10, server_cmd = { 'x', 'serve' } })
    H.eq(10, cfg.inline.debounce_ms, 'debounce moved')
    H.eq({ 'x', 'serve' }, cfg.cmd, 'cmd moved')
    H.eq(2, #problems, 'both renames reported')
  end)

  H.test('config: wrong types everywhere give messages, never an error', function()
    local cfg, problems = config.resolve({ inline = 3, cmd = {}, settings = 'x', on_attach = 1 })
    H.eq(config.defaults.inline.keys, cfg.inline.keys, 'inline defaults kept')
    H.eq({ 'diffusion-lsp' }, cfg.cmd, 'empty cmd replaced')
    H.eq({}, cfg.settings, 'settings replaced')
    H.eq(4, #problems, 'problems: ' .. table.concat(problems, '; '))
    local _, p2 = config.resolve('nonsense')
    H.eq(1, #p2, 'a non-table is reported')
  end)

  H.test('setup: a bad option reaches the user as one clear warning', function()
    local seen = {}
    local notify = vim.notify
    vim.notify = function(msg, level)
      table.insert(seen, { msg = msg, level = level })
    end
    local ok, err = pcall(require('diffusion_lsp').setup, { cmd = { 'true' }, filetypes = {}, inline = { backend = 'gpu' } })
    vim.notify = notify
    H.truthy(ok, 'setup did not raise: ' .. tostring(err))
    H.eq(1, #seen, 'one notification')
    H.truthy(seen[1].msg:find("inline.backend: expected 'auto', 'native' or 'plugin', got \"gpu\"", 1, true), seen[1].msg)
    H.eq(vim.log.levels.WARN, seen[1].level, 'level')
  end)

  H.test('word and line prefixes', function()
    H.eq('foo', inline.word_prefix('foo(bar)'), 'word')
    H.eq('(', inline.word_prefix('(bar)'), 'punctuation run')
    H.eq('  bar', inline.word_prefix('  bar baz'), 'leading blanks')
    H.eq('a = 1\n', inline.line_prefix('a = 1\nb = 2'), 'line with its break')
    H.eq('last', inline.line_prefix('last'), 'single line')
  end)

  H.test('ghost text is drawn on the screen at the cursor, extra lines below', function()
    local bufnr = vim.api.nvim_create_buf(true, false)
    vim.api.nvim_set_current_buf(bufnr)
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, { 'x = foo(', 'y = 2' })
    local ghost = inline.ghost_from_item(bufnr, 'utf-16', {
      insertText = 'a, b)\nz = 3',
      range = { start = { line = 0, character = 8 }, ['end'] = { line = 0, character = 8 } },
    }, 0, 8)
    H.eq({ text = 'a, b)\nz = 3', row = 0, start_col = 8, end_col = 8 }, ghost, 'ghost')
    local vt = inline.virtual_text(bufnr, ghost)
    local ns = vim.api.nvim_create_namespace('diffusion_lsp_test')
    vim.api.nvim_buf_set_extmark(bufnr, ns, 0, 8, { virt_text = vt.virt_text, virt_text_pos = 'overlay',
      virt_lines = vt.virt_lines })
    vim.cmd('redraw')
    local function screen(row, from, n)
      local s = {}
      for c = from, from + n - 1 do
        table.insert(s, vim.fn.screenstring(row, c))
      end
      return table.concat(s)
    end
    H.eq('x = foo(a, b)', screen(1, 1, 13), 'first line on screen')
    H.eq('z = 3', screen(2, 1, 5), 'virtual line on screen')
    H.eq('y = 2', screen(3, 1, 5), 'the next real line is pushed down')
    vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
    -- A suggestion that replaces the rest of the line covers it exactly.
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, { 'call(old_argument)' })
    local g2 = inline.ghost_from_item(bufnr, 'utf-16', {
      insertText = 'new)',
      range = { start = { line = 0, character = 5 }, ['end'] = { line = 0, character = 18 } },
    }, 0, 5)
    local vt2 = inline.virtual_text(bufnr, g2)
    local shown = ''
    for _, chunk in ipairs(vt2.virt_text) do
      shown = shown .. chunk[1]
    end
    H.eq('new)' .. string.rep(' ', 9), shown, 'blank-padded over the replaced text')
    vim.api.nvim_buf_delete(bufnr, { force = true })
  end)

  H.test('an item that starts before the cursor is shown only past what was typed', function()
    local bufnr = vim.api.nvim_create_buf(true, false)
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, { 'ret' })
    local item = { insertText = 'return x', range = { start = { line = 0, character = 0 }, ['end'] = { line = 0, character = 3 } } }
    H.eq({ text = 'urn x', row = 0, start_col = 3, end_col = 3 }, inline.ghost_from_item(bufnr, 'utf-16', item, 0, 3), 'rest shown')
    item.insertText = 'pass'
    H.eq(nil, inline.ghost_from_item(bufnr, 'utf-16', item, 0, 3), 'a mismatching item is dropped')
    vim.api.nvim_buf_delete(bufnr, { force = true })
  end)

  H.test('an item with a control character (not tab or a line break) is never shown', function()
    local bufnr = vim.api.nvim_create_buf(true, false)
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, { 'x = ' })
    for _, text in ipairs({ '1\0', 'a\19b', '\1', 'y\127', 'z\nw\27' }) do
      H.eq(nil, inline.ghost_from_item(bufnr, 'utf-16', { insertText = text }, 0, 4), vim.inspect(text))
    end
    H.eq({ text = '1\t+ 2\r\n3', row = 0, start_col = 4, end_col = 4 },
      inline.ghost_from_item(bufnr, 'utf-16', { insertText = '1\t+ 2\r\n3' }, 0, 4), 'tab and line breaks kept')
    vim.api.nvim_buf_delete(bufnr, { force = true })
  end)
end
