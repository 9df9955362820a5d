-- End-to-end tests against a running diffusion-lsp: keys are typed as a user types them, and every
-- expectation comes from the server's own responses (the inline items it returned, the WorkspaceEdit
-- it applied, the diagnostics it published), never from hard-coded model output.
return function(H, opts)
  local api = vim.api
  local plugin = require('diffusion_lsp')
  local server = require('diffusion_lsp.server')
  local inline = require('diffusion_lsp.inline')

  local workdir = vim.fn.tempname()
  vim.fn.mkdir(workdir, 'p')

  -- Record the server's inline responses, command answers and applied edits, passing them on unchanged.
  local inline_responses = {}
  local command_results = {}
  -- When set, tamper(result) changes the next inline response before the plugin sees it (a test that
  -- needs a text the tiny model never writes); it is cleared once used.
  local tamper = nil
  local original_request = server.request
  server.request = function(client, method, params, handler, bufnr)
    return original_request(client, method, params, function(err, result, ctx, ...)
      if method == 'textDocument/inlineCompletion' then
        if tamper and result then
          result = tamper(result)
          tamper = nil
        end
        table.insert(inline_responses, { params = params, err = err, result = result })
      elseif method == 'workspace/executeCommand' then
        table.insert(command_results, { command = params.command, arguments = params.arguments, err = err,
          result = result })
      end
      return handler(err, result, ctx, ...)
    end, bufnr)
  end
  local applied_edits = {}
  -- Every WorkspaceEdit Neovim applies, whether the server sent it (workspace/applyEdit) or a resolved
  -- code action carried it.
  local original_apply = vim.lsp.util.apply_workspace_edit
  vim.lsp.util.apply_workspace_edit = function(edit, ...)
    table.insert(applied_edits, vim.deepcopy(edit))
    return original_apply(edit, ...)
  end

  local keys = {
    accept = '<M-l>', accept_word = '<M-Right>', accept_line = '<M-Down>', dismiss = '<C-]>',
    next = '<M-]>', prev = '<M-[>', trigger = '<M-\\>',
  }
  local configured = false
  local function setup_once()
    if not configured then
      configured = true
      plugin.setup({
        cmd = opts.cmd,
        settings = opts.settings,
        filetypes = { 'python' },
        inline = { keys = keys, auto_trigger = true, debounce_ms = 30 },
      })
    end
  end

  local function lines(bufnr)
    return api.nvim_buf_get_lines(bufnr or 0, 0, -1, false)
  end

  --- Opens a new python file with `content` and waits until the server is attached and ready.
  local counter = 0
  local function open(content)
    setup_once()
    counter = counter + 1
    local path = string.format('%s/case%d.py', workdir, counter)
    vim.fn.writefile(content, path)
    vim.cmd('edit ' .. vim.fn.fnameescape(path))
    local bufnr = api.nvim_get_current_buf()
    H.eq('python', vim.bo[bufnr].filetype, 'filetype')
    H.wait_for('the server to attach', function()
      return server.client_for_buf(bufnr) or plugin.status().state == 'error'
    end, 30000)
    local state = H.wait_for('the model to load', function()
      local st = plugin.status().state
      return (st == 'ready' or st == 'error') and st
    end, 300000)
    H.eq('ready', state, 'model status (' .. vim.inspect(plugin.status()) .. ')')
    return bufnr
  end

  --- The line as Neovim draws it on the screen, from screen column `from`, `n` cells.
  local function screen_text(screen_row, from, n)
    local cells = {}
    for c = from, from + n - 1 do
      table.insert(cells, vim.fn.screenstring(screen_row, c))
    end
    return table.concat(cells)
  end

  --- The ghost extmark's text as {first line, virtual lines...}.
  local function ghost_extmark(bufnr)
    local marks = api.nvim_buf_get_extmarks(bufnr, inline.ns, 0, -1, { details = true })
    if #marks ~= 1 then
      return nil
    end
    local row, col, details = marks[1][2], marks[1][3], marks[1][4]
    local function join(chunks)
      local s = ''
      for _, chunk in ipairs(chunks) do
        s = s .. chunk[1]
      end
      return s
    end
    local shown = { join(details.virt_text or {}) }
    for _, vl in ipairs(details.virt_lines or {}) do
      table.insert(shown, join(vl))
    end
    return { row = row, col = col, lines = shown }
  end

  --- `text` split in lines as the ghost shows it: virtual text cannot show a tab, so it spells each as
  --- 'tabstop' blanks.
  local function shown_lines(text)
    return vim.tbl_map(function(l)
      return (l:gsub('\t', string.rep(' ', vim.bo.tabstop)))
    end, vim.split(text, '\n', { plain = true }))
  end

  --- Enters insert mode at the end of line `lnum` (1-based), asks for a suggestion with the trigger key
  --- and waits for the ghost. Returns the server's items and the text before the cursor.
  local function trigger_at_end_of(bufnr, lnum)
    api.nvim_win_set_cursor(0, { lnum, 0 })
    H.feed('A')
    H.wait_for('insert mode', function()
      return api.nvim_get_mode().mode == 'i'
    end)
    local before = #inline_responses
    H.feed(keys.trigger)
    local response = H.wait_for('the inline completion response', function()
      return inline_responses[before + 1]
    end, 120000)
    H.eq(nil, response.err, 'inline completion error')
    local items = response.result and (response.result.items or response.result) or {}
    H.truthy(#items > 0 and items[1].insertText ~= '', 'the server suggested something: ' .. vim.inspect(response.result))
    H.wait_for('the ghost text', function()
      return inline.current(bufnr)
    end)
    return items
  end

  --- Applies the TextEdits of `edit` for `uri` to `text_lines` (ASCII test files: characters = bytes).
  local function apply_edit(text_lines, edit, uri)
    local text_edits = {}
    for _, change in ipairs(edit.documentChanges or {}) do
      if change.textDocument and change.textDocument.uri == uri then
        vim.list_extend(text_edits, change.edits)
      end
    end
    for change_uri, edits in pairs(edit.changes or {}) do
      if change_uri == uri then
        vim.list_extend(text_edits, edits)
      end
    end
    H.truthy(#text_edits > 0, 'the edit changes this file: ' .. vim.inspect(edit))
    local text = table.concat(text_lines, '\n')
    local starts = { 0 }
    for i = 1, #text_lines do
      starts[i + 1] = starts[i] + #text_lines[i] + 1
    end
    local function offset(pos)
      return starts[pos.line + 1] + pos.character
    end
    table.sort(text_edits, function(a, b)
      return offset(a.range.start) > offset(b.range.start)
    end)
    for _, e in ipairs(text_edits) do
      text = text:sub(1, offset(e.range.start)) .. e.newText .. text:sub(offset(e.range['end']) + 1)
    end
    return vim.split(text, '\n', { plain = true }), text_edits
  end

  --- How many edits and command answers have come so far (take it before running a command).
  local function mark()
    return { edits = #applied_edits, answers = #command_results }
  end

  --- Waits for the workspace/applyEdit that follows `before`; fails at once if the command answers
  --- without applying anything.
  local function next_applied_edit(before, what)
    local edit, answer = H.wait_for(what .. ': the server applying its edit', function()
      local a = command_results[before.answers + 1]
      local e = applied_edits[before.edits + 1]
      if e or (a and (a.err or not (a.result or {}).applied)) then
        return { e, a }
      end
    end, 120000)[1], command_results[before.answers + 1]
    H.truthy(edit, what .. ': the server applied nothing: ' .. vim.inspect(answer))
    return edit
  end

  --- Runs `action()` in `bufnr` (whose text was `content`), waits for the edit the server applies and
  --- checks that the buffer is exactly `content` with that edit. Returns the TextEdits.
  local function expect_server_edit(bufnr, content, what, action)
    local before = mark()
    action()
    local edit = next_applied_edit(before, what)
    local want, text_edits = apply_edit(content, edit, vim.uri_from_bufnr(bufnr))
    H.wait_for(what .. ': the buffer to show the edit', function()
      return vim.deep_equal(want, lines(bufnr))
    end)
    H.truthy(not vim.deep_equal(content, lines(bufnr)), what .. ': the text changed')
    return text_edits
  end

  local function diagnostics(bufnr)
    return vim.diagnostic.get(bufnr)
  end

  local source = {
    'def area(width, height):',
    '    result = width * height',
    '    return result',
    '',
    '',
    'def perimeter(width, height):',
    '    total = ',
    '',
  }

  H.test('e2e: the server starts, reports ready, and :DiffusionStatus shows it', function()
    open(source)
    vim.cmd('DiffusionStatus')
    H.wait_for(':DiffusionStatus output', function()
      return vim.fn.execute('messages'):find('diffusion%-lsp: ready')
    end)
  end)

  H.test('e2e: ghost text appears at the cursor with the server\'s text, accept inserts it exactly', function()
    local bufnr = open(source)
    local items = trigger_at_end_of(bufnr, 7)
    local text = items[1].insertText
    local expected = vim.split(text, '\n', { plain = true })
    local mark = ghost_extmark(bufnr)
    H.eq({ row = 6, col = #'    total = ' }, { row = mark.row, col = mark.col }, 'extmark at the cursor')
    local shown = shown_lines(text)
    H.eq(shown, mark.lines, 'ghost text equals the server\'s insertText')
    -- And that is what the screen shows: the line itself, then the rest as virtual lines below it.
    vim.cmd('redraw')
    local screen_row = vim.fn.screenpos(0, 7, 1).row
    local width = vim.fn.strdisplaywidth
    H.eq('    total = ' .. shown[1], screen_text(screen_row, 1, width('    total = ' .. shown[1])), 'screen line')
    for i = 2, #shown do
      H.eq(shown[i], screen_text(screen_row + i - 1, 1, width(shown[i])), 'screen virtual line ' .. i)
    end
    H.feed(keys.accept)
    H.wait_for('the ghost to go', function()
      return not inline.current(bufnr) and #api.nvim_buf_get_extmarks(bufnr, inline.ns, 0, -1, {}) == 0
    end)
    local want = vim.deepcopy(source)
    local inserted = vim.deepcopy(expected)
    inserted[1] = '    total = ' .. inserted[1]
    want = vim.list_extend(vim.list_slice(want, 1, 6), inserted)
    table.insert(want, '')
    H.eq(want, lines(bufnr), 'buffer after accept')
    local cursor = api.nvim_win_get_cursor(0)
    H.eq({ 6 + #expected, #inserted[#inserted] }, cursor, 'cursor at the end of the inserted text')
    H.feed('<Esc>')
  end)

  H.test('e2e: dismiss clears the ghost and leaves the buffer alone', function()
    local bufnr = open(source)
    trigger_at_end_of(bufnr, 7)
    local tick = api.nvim_buf_get_changedtick(bufnr)
    H.feed(keys.dismiss)
    H.wait_for('the ghost to go', function()
      return #api.nvim_buf_get_extmarks(bufnr, inline.ns, 0, -1, {}) == 0
    end)
    H.eq(tick, api.nvim_buf_get_changedtick(bufnr), 'buffer unchanged')
    H.eq(source, lines(bufnr), 'text unchanged')
    H.feed('<Esc>')
  end)

  H.test('e2e: ghost text never lingers after a cursor move, typing, or leaving insert mode', function()
    local bufnr = open(source)
    local function gone()
      return #api.nvim_buf_get_extmarks(bufnr, inline.ns, 0, -1, {}) == 0
    end
    trigger_at_end_of(bufnr, 7)
    H.feed('<Left>')
    H.wait_for('the ghost to go after <Left>', gone)
    H.feed('<Esc>')
    trigger_at_end_of(bufnr, 7)
    H.feed('<Esc>')
    H.wait_for('normal mode', function()
      return api.nvim_get_mode().mode == 'n'
    end)
    H.truthy(gone(), 'no ghost after <Esc>')
    local items = trigger_at_end_of(bufnr, 7)
    local first_shown = ghost_extmark(bufnr)
    local typed = items[1].insertText:sub(1, 1) == 'Q' and 'R' or 'Q'
    H.feed(typed)
    H.wait_for('the typed character', function()
      return api.nvim_buf_get_lines(bufnr, 6, 7, false)[1] == '    total = ' .. typed
    end)
    -- The old ghost is gone at once; a new one may come for the new text, at the new cursor only.
    local mark = ghost_extmark(bufnr)
    H.truthy(mark == nil or mark.col == #'    total = ' + 1, 'no stale ghost: ' .. vim.inspect({ mark, first_shown }))
    H.feed('<Esc>')
    H.wait_for('the ghost to go after <Esc>', gone)
  end)

  H.test('e2e: typing asks for a suggestion on its own (debounced)', function()
    local bufnr = open(source)
    api.nvim_win_set_cursor(0, { 7, 0 })
    local before = #inline_responses
    H.feed('Ax')
    local response = H.wait_for('an automatic request', function()
      return inline_responses[before + 1]
    end, 120000)
    H.eq(2, response.params.context.triggerKind, 'automatic trigger kind')
    H.eq({ line = 6, character = #'    total = x' }, response.params.position, 'position')
    H.feed('<Esc>')
  end)

  --- Leaves insert mode and checks that the insert just made is one undo step: `u` once brings back
  --- `content` exactly.
  local function expect_one_undo_step(bufnr, content, seq_before, what)
    H.feed('<Esc>')
    H.wait_for('normal mode', function()
      return api.nvim_get_mode().mode == 'n'
    end)
    H.truthy(not vim.deep_equal(content, lines(bufnr)), what .. ': the insert changed the text')
    H.eq(seq_before + 1, vim.fn.undotree().seq_last, what .. ': undo steps the insert made')
    vim.cmd('silent normal! u')
    H.eq(content, lines(bufnr), what .. ': the text after one undo')
  end

  H.test('e2e: an insert typed while a ghost is shown is one undo step (typed over, or accepted)', function()
    -- Typed over: the ghost shows, the next character clears it, a new suggestion may come.
    local bufnr = open(source)
    local seq = vim.fn.undotree().seq_last
    local items = trigger_at_end_of(bufnr, 7)
    local typed = items[1].insertText:sub(1, 1) == 'Q' and 'R' or 'Q'
    H.feed(typed)
    H.wait_for('the typed character', function()
      return api.nvim_buf_get_lines(bufnr, 6, 7, false)[1] == '    total = ' .. typed
    end)
    H.feed('<CR>')
    -- On the new (autoindented) line ask again and type over what comes.
    local before = #inline_responses
    H.feed(keys.trigger)
    H.wait_for('the answer for the new line', function()
      for i = before + 1, #inline_responses do
        if inline_responses[i].params.position.line == 7 then
          return true
        end
      end
    end, 120000)
    H.tick(50)
    H.feed('cou')
    H.wait_for('the typed word', function()
      return (api.nvim_buf_get_lines(bufnr, 7, 8, false)[1] or ''):find('cou$')
    end)
    expect_one_undo_step(bufnr, source, seq, 'typed over')
    -- Accepted, then typed on: still one step with the text before it.
    seq = vim.fn.undotree().seq_last
    trigger_at_end_of(bufnr, 7)
    H.feed(keys.accept)
    H.wait_for('the ghost to go', function()
      return not inline.current(bufnr)
    end)
    H.feed('x')
    expect_one_undo_step(bufnr, source, seq, 'accepted')
  end)

  H.test('e2e: a suggestion with a control character is not drawn, raises nothing, splits no undo step',
    function()
      -- A random or badly quantised remote model can write a NUL (older servers passed it on): no
      -- vim.fn call takes such a text (E976), and an error's hit-enter prompt in the middle of an
      -- insert ends its undo step.
      local bufnr = open(source)
      local seq = vim.fn.undotree().seq_last
      local messages = vim.fn.execute('messages')
      local shown_text
      api.nvim_win_set_cursor(0, { 7, 0 })
      H.feed('A')
      H.wait_for('insert mode', function()
        return api.nvim_get_mode().mode == 'i'
      end)
      tamper = function(result)
        local items = result.items or result
        H.truthy(#items > 0, 'the server suggested something: ' .. vim.inspect(result))
        shown_text = items[1].insertText
        for _, item in ipairs(items) do
          item.insertText = item.insertText .. '\0' .. '\19'
        end
        return result
      end
      local before = #inline_responses
      H.feed(keys.trigger)
      H.wait_for('the inline completion response', function()
        return inline_responses[before + 1]
      end, 120000)
      H.tick(50)
      H.eq(nil, inline.current(bufnr), 'no ghost for texts with a NUL')
      H.eq(0, #api.nvim_buf_get_extmarks(bufnr, inline.ns, 0, -1, {}), 'no extmark')
      H.truthy(shown_text, 'the response was the one changed')
      H.feed('cou')
      H.wait_for('the typed word', function()
        return api.nvim_buf_get_lines(bufnr, 6, 7, false)[1] == '    total = cou'
      end)
      H.eq(messages, vim.fn.execute('messages'), 'nothing added to :messages')
      expect_one_undo_step(bufnr, source, seq, 'typed after the response')
    end)

  H.test('e2e: accept word and accept line insert that much and keep the rest on display', function()
    local bufnr = open(source)
    local items = trigger_at_end_of(bufnr, 7)
    local text = items[1].insertText
    local word = text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text:match('^%s+')
    H.feed(keys.accept_word)
    H.wait_for('the word', function()
      return api.nvim_buf_get_lines(bufnr, 6, 7, false)[1] ~= '    total = '
    end)
    local after_word = vim.split('    total = ' .. word, '\n', { plain = true })
    H.eq(after_word, api.nvim_buf_get_lines(bufnr, 6, 6 + #after_word, false), 'one word inserted')
    local rest = text:sub(#word + 1)
    if rest ~= '' then
      H.eq(shown_lines(rest), ghost_extmark(bufnr).lines, 'the rest still shown')
      local line = rest:match('^[^\n]*\n') or rest
      H.feed(keys.accept_line)
      local want = vim.split('    total = ' .. word .. line, '\n', { plain = true })
      H.wait_for('the line', function()
        return vim.deep_equal(want, api.nvim_buf_get_lines(bufnr, 6, 6 + #want, false))
      end)
      local remaining = rest:sub(#line + 1)
      if remaining ~= '' then
        H.eq(shown_lines(remaining), ghost_extmark(bufnr).lines, 'the rest after the line')
      end
    end
    H.feed('<Esc>')
  end)

  H.test('e2e: next and previous alternative show the server\'s other items', function()
    local bufnr = open(source)
    local items = trigger_at_end_of(bufnr, 7)
    H.truthy(#items >= 2, 'the server returned alternatives (settings.alternatives = 3): ' .. vim.inspect(items))
    local function shows(i)
      return function()
        return vim.deep_equal(shown_lines(items[i].insertText), ghost_extmark(bufnr).lines)
      end
    end
    H.feed(keys.next)
    H.wait_for('the second item', shows(2))
    H.feed(keys.prev)
    H.wait_for('the first item again', shows(1))
    H.feed(keys.prev)
    H.wait_for('the last item (wrapping around)', shows(#items))
    H.feed(keys.accept)
    local want = vim.split('    total = ' .. items[#items].insertText, '\n', { plain = true })
    H.wait_for('the chosen alternative inserted', function()
      return vim.deep_equal(want, api.nvim_buf_get_lines(bufnr, 6, 6 + #want, false))
    end)
    H.feed('<Esc>')
  end)

  -- Files the test model (make_model.py) learned one safe answer for: the server applies only edits
  -- that parse and keep every definition, which a random model never writes.
  local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
  local function read_fixture(name)
    return vim.fn.json_decode(table.concat(vim.fn.readfile(here .. '/fixtures/' .. name), '\n'))
  end
  local rewrite = read_fixture('rewrite.json')

  H.test('e2e: :DiffusionRefine sends the visual selection and applies the server\'s edit, or says why not',
    function()
      local content = rewrite.refine.broken
      local bufnr = open(content)
      -- Select the fixture's selection characterwise.
      local first, last = content[2]:find(rewrite.refine.select.text, 1, true)
      api.nvim_win_set_cursor(0, { 2, first - 1 })
      local before = mark()
      H.feed('v' .. (last - first) .. 'l:DiffusionRefine<CR>')
      local answer = H.wait_for('the refine answer', function()
        return command_results[before.answers + 1]
      end, 120000)
      H.eq('diffusionLsp.refine', answer.command, 'command')
      H.eq({ start = { line = 1, character = first - 1 }, ['end'] = { line = 1, character = last } },
        answer.arguments[2], 'the range sent is the characterwise selection')
      H.eq(nil, answer.err, 'no error')
      if not answer.result.applied then
        -- The tiny model's rewrite may not parse; then the server must change nothing and say so.
        H.truthy(answer.result.message and answer.result.message ~= '', 'a reason: ' .. vim.inspect(answer))
        H.wait_for('the reason shown', function()
          return vim.fn.execute('messages'):find(answer.result.message, 1, true)
        end)
        H.eq(content, lines(bufnr), 'nothing changed')
        return
      end
      local edit = H.wait_for('the applied edit', function()
        return applied_edits[before.edits + 1]
      end)
      local want, text_edits = apply_edit(content, edit, vim.uri_from_bufnr(bufnr))
      H.wait_for('the buffer to show the edit', function()
        return vim.deep_equal(want, lines(bufnr))
      end)
      -- The server snaps the selection to whole tokens, so an edit may reach a blank beside it, never
      -- another line.
      for _, e in ipairs(text_edits) do
        H.truthy(e.range.start.line == 1 and e.range['end'].line == 1, 'the edit stays on the selected line: '
          .. vim.inspect(e.range))
      end
      H.eq(content[1], lines(bufnr)[1], 'text before the selection kept')
      H.eq(content[3], lines(bufnr)[3], 'text after the selection kept')
    end)

  H.test('e2e: :DiffusionFill replaces the placeholder', function()
    local content = rewrite.fill.broken
    local bufnr = open(content)
    api.nvim_win_set_cursor(0, { 2, 5 })
    expect_server_edit(bufnr, content, 'fill', function()
      vim.cmd('DiffusionFill')
    end)
    H.eq(content[1], lines(bufnr)[1], 'the signature is kept')
    H.truthy(not table.concat(lines(bufnr), '\n'):find('    pass\n', 1, true), 'the placeholder is gone')
  end)

  -- The broken file and its repair; the test model (make_model.py) learned this repair.
  local broken = read_fixture('fix.json').broken

  local function wait_diagnostics(bufnr, what, cond)
    return H.wait_for(what, function()
      return cond(diagnostics(bufnr))
    end, 60000)
  end

  H.test('e2e: :DiffusionFix repairs a broken line and the server then finds it parses', function()
    local bufnr = open(broken)
    wait_diagnostics(bufnr, 'the syntax error diagnostic', function(d)
      return #d > 0
    end)
    api.nvim_win_set_cursor(0, { 2, 0 })
    expect_server_edit(bufnr, broken, 'fix', function()
      vim.cmd('DiffusionFix')
    end)
    wait_diagnostics(bufnr, 'the server to report no syntax error', function(d)
      return #d == 0
    end)
  end)

  H.test('e2e: the server\'s code actions appear in vim.lsp.buf.code_action()', function()
    local content = rewrite.fill_ellipsis.broken
    local bufnr = open(content)
    api.nvim_win_set_cursor(0, { 2, 5 })
    local offered
    local select = vim.ui.select
    vim.ui.select = function(items, select_opts, on_choice)
      offered = {}
      local pick
      for i, item in ipairs(items) do
        local title = select_opts.format_item and select_opts.format_item(item) or tostring(item)
        table.insert(offered, title)
        if title:find('Fill hole', 1, true) then
          pick = pick or i
        end
      end
      vim.ui.select = select
      on_choice(pick and items[pick] or nil, pick)
    end
    expect_server_edit(bufnr, content, 'code action', function()
      vim.lsp.buf.code_action()
      H.wait_for('the code action menu', function()
        return offered
      end, 30000)
      vim.ui.select = select
      local titles = table.concat(offered, ' | ')
      H.truthy(titles:find('Fill hole', 1, true), '"Fill hole" offered: ' .. titles)
    end)
  end)

  H.test('e2e: :checkhealth diffusion_lsp finds the server, its version and the model status', function()
    open(source)
    vim.cmd('checkhealth diffusion_lsp')
    local report = table.concat(lines(0), '\n')
    vim.cmd('bwipeout!')
    H.truthy(report:find('server command: ', 1, true), 'server found:\n' .. report)
    H.truthy(report:find('server version: %d+%.%d+'), 'version:\n' .. report)
    H.truthy(report:find('model status: ready', 1, true), 'model status:\n' .. report)
    H.truthy(not report:find('ERROR'), 'no error in the report:\n' .. report)
  end)
end
