import { describe, expect, it } from 'vitest'
import { createBodyOf, emptyMcpForm, namesOfText, needsApproval, recordOfRows } from './mcp-form.ts'

describe('the MCP server form', () => {
  it('turns header rows into a record, dropping empty rows and refusing a name given twice', () => {
    expect(
      recordOfRows([
        { name: ' Authorization ', value: 'Bearer x' },
        { name: '', value: '' },
      ]),
    ).toEqual({ record: { Authorization: 'Bearer x' } })
    expect(
      recordOfRows([
        { name: 'X-Key', value: '1' },
        { name: 'x-key', value: '2' },
      ]).duplicate,
    ).toBe('x-key')
  })

  it('sends an http server with its url and headers, and a stdio one with its arguments one per line', () => {
    expect(
      createBodyOf({
        ...emptyMcpForm,
        name: 'crm',
        url: ' https://mcp.example.com/mcp ',
        headers: [{ name: 'Authorization', value: 'Bearer x' }],
        approveNames: 'delete_contact, send_email\ndelete_contact',
      }),
    ).toEqual({
      body: {
        name: 'crm',
        transport: 'http',
        url: 'https://mcp.example.com/mcp',
        headers: { Authorization: 'Bearer x' },
        enabled: true,
        requireApproval: ['delete_contact', 'send_email'],
      },
    })
    expect(
      createBodyOf({
        ...emptyMcpForm,
        name: 'files',
        transport: 'stdio',
        command: 'npx',
        args: '-y\n\n @modelcontextprotocol/server-filesystem \n/srv/data',
        approveAll: true,
        enabled: false,
      }),
    ).toEqual({
      body: {
        name: 'files',
        transport: 'stdio',
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv/data'],
        enabled: false,
        requireApproval: '*',
      },
    })
    expect(namesOfText(' a, b  c\n')).toEqual(['a', 'b', 'c'])
  })

  it('knows which tools wait for approval', () => {
    expect(needsApproval({ requireApproval: '*' }, 'anything')).toBe(true)
    expect(needsApproval({ requireApproval: ['delete'] }, 'delete')).toBe(true)
    expect(needsApproval({ requireApproval: ['delete'] }, 'find')).toBe(false)
  })
})
