/**
 * contracts/chain-errors.ts: whatever ethers or fetch throws becomes a ChainError with a stable
 * code; revert data is decoded to the contract's custom error and its arguments (also through
 * a wrapping error's cause). No chain needed: the errors are made as ethers makes them.
 *
 *   node --import tsx contracts/chain-errors.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Interface, makeError } from 'ethers'
import { ErrorCode, FogmeshError, ValidationError } from '../protocol/errors.ts'
import { AnvilMissingError } from './anvil.ts'
import { ChainError, ChainUnreachableError, ContractMismatchError, InsufficientFundsError, RpcError, toChainError, TxRevertedError, TxTimeoutError } from './chain-errors.ts'
import { decodeRevert } from './revert.ts'

const iface = new Interface(['error NothingToSettle(uint256 channelId, uint256 cumulativeAmount, uint256 alreadyPaid)'])
const data = iface.encodeErrorResult('NothingToSettle', [1n, 100n, 100n])

test('a revert: TxRevertedError with the custom error and its arguments, the raw data kept', () => {
  const e = toChainError(makeError('execution reverted', 'CALL_EXCEPTION', { action: 'estimateGas', data, reason: null, transaction: { to: null, data: '0x' }, invocation: null, revert: null }), 'settleMany', { iface })
  assert.instance(e, TxRevertedError)
  assert.instance(e, ChainError)
  assert.instance(e, FogmeshError)
  const r = e as TxRevertedError
  assert.is(r.code, ErrorCode.txReverted)
  assert.is(r.shortMessage, 'settleMany reverted: NothingToSettle(1, 100, 100)')
  assert.equal(r.revert, { name: 'NothingToSettle', args: [1n, 100n, 100n] })
  assert.is(r.data, data)
  assert.equal(r.toJSON(), { code: 'tx_reverted', message: 'settleMany reverted: NothingToSettle(1, 100, 100)' })
  // decodable again from the wrapper, and by a wider interface through its data
  assert.equal(decodeRevert(r), { name: 'NothingToSettle', args: [1n, 100n, 100n] })
  const undecoded = toChainError(makeError('execution reverted', 'CALL_EXCEPTION', { action: 'estimateGas', data, reason: null, transaction: { to: null, data: '0x' }, invocation: null, revert: null }), 'settle') as TxRevertedError
  assert.is(undecoded.revert, undefined)
  assert.is(undecoded.shortMessage, 'settle reverted')
  assert.equal(decodeRevert(undecoded, iface)?.name, 'NothingToSettle')
})

test('the node: unreachable, its own errors, insufficient funds; a contract that is not there', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8545'), { code: 'ECONNREFUSED' })
  const a = toChainError(refused, 'eth_blockNumber')
  assert.instance(a, ChainUnreachableError)
  assert.is(a.code, ErrorCode.chainUnreachable)
  const wrapped = toChainError(new TypeError('fetch failed', { cause: refused }), 'eth_call')
  assert.instance(wrapped, ChainUnreachableError, 'the code is found under cause')
  const funds = toChainError(makeError('insufficient funds for intrinsic transaction cost', 'INSUFFICIENT_FUNDS', { transaction: { to: null, data: '0x' } }), 'settleMany')
  assert.instance(funds, InsufficientFundsError)
  assert.is(funds.code, ErrorCode.insufficientFunds)
  const server = toChainError(makeError('nonce too low', 'NONCE_EXPIRED', { transaction: { to: null, data: '0x' } }), 'eth_sendRawTransaction')
  assert.instance(server, RpcError)
  assert.is(server.code, ErrorCode.rpcError)
  const empty = toChainError(makeError('could not decode result data', 'BAD_DATA', { value: '0x' }), 'token', { address: '0x000000000000000000000000000000000000dEaD', contract: 'PaymentChannels' })
  assert.instance(empty, ContractMismatchError)
  assert.is(empty.shortMessage, 'no PaymentChannels at 0x000000000000000000000000000000000000dEaD')
})

test('what is already in the tree passes through; anything else is internal', () => {
  const v = new ValidationError('signer', 'a Signer connected to a provider')
  assert.is(toChainError(v, 'x'), v)
  const bug = toChainError(new TypeError('x is not a function'), 'settle')
  assert.is(bug.code, ErrorCode.internal)
  assert.not.instance(bug, ChainError)
})

test('every chain error has its own stable code', () => {
  const codes = [
    new TxRevertedError({ method: 'm' }).code,
    new TxTimeoutError('0xab', 5).code,
    new ChainUnreachableError('x').code,
    new RpcError('m', 'x').code,
    new InsufficientFundsError('m').code,
    new ContractMismatchError('0x', 'C').code,
    new AnvilMissingError().code,
  ]
  assert.equal(codes, ['tx_reverted', 'tx_timeout', 'chain_unreachable', 'rpc_error', 'insufficient_funds', 'contract_mismatch', 'anvil_missing'])
  assert.is(new TxTimeoutError('0xab', 5).shortMessage, 'transaction 0xab not mined within 5 ms')
  assert.match(new AnvilMissingError().message, /@foundry-rs\/anvil/)
})

test.run()
