/**
 * Order fulfillment workflow (tasker-core's `rust_e2e_order_fulfillment/business_workflow`): an e-commerce
 * order is validated, its inventory reserved, the payment charged and the shipment created.
 *
 * ```text
 * validate_order → reserve_inventory → process_payment → ship_order
 *   (process_payment also depends on validate_order; ship_order on all three)
 * ```
 *
 * Input (`OrderInput`): `{ customer: {id, name, email}, items: [{sku, quantity, price}], payment: {method, token},
 * shipping: {method: "standard" | "express" | "overnight", address: {street, city, state, zip}} }`.
 *
 * The external systems (product catalog, inventory, payment gateway, carrier) are simulated in this module.
 *
 * - `validate_order` fails permanently (`ValidationError`) on an empty customer email (`MISSING_CUSTOMER_EMAIL`),
 *   no items (`EMPTY_ORDER_ITEMS`), an item without a SKU (`INVALID_ORDER_ITEM`), a quantity ≤ 0
 *   (`INVALID_QUANTITY`), a negative price or one with more than 2 decimals (`INVALID_PRICE`), an unknown SKU
 *   (`PRODUCT_NOT_FOUND`) and an order total above 50 000.00 (`ORDER_TOTAL_TOO_HIGH`).
 * - `reserve_inventory` fails retryably (`INSUFFICIENT_STOCK`) when an item's quantity exceeds the stock, as
 *   stock may be replenished; it retries with a short backoff (3 attempts, 200 ms base, exponential).
 * - `process_payment` always succeeds (at most 2 attempts); the gateway fee is 2.9 % of the total, rounded to
 *   the nearest cent (half up).
 * - `ship_order` picks the carrier from the shipping method: standard → UPS "UPS Ground" (5 business days),
 *   express → FedEx "FedEx Express" (2), overnight → FedEx "FedEx Overnight" (1). Weekends are skipped, holidays
 *   are not; dates are UTC.
 *
 * **Money.** All arithmetic is in integer cents (`bigint`); amounts are presented as numbers with at most 2
 * decimals (209.97). Prices must have at most 2 decimals.
 *
 * **Shipping cost** (in cents): a base rate per method — standard 899, express 1500, overnight 2500 — plus a
 * weight surcharge. Each unit (item quantity, not line) weighs 0.5 lb; the first 1 lb is included and every
 * further 0.5 lb costs 125 cents (2.50 per lb): `cost = base + 125 × max(0, units − 2)`. Three units shipped
 * standard: 899 + 125 = 1024 → 10.24. (tasker-core added the surcharge in cents to the base in dollars and counted
 * lines instead of units.)
 */
import { Clock, Effect, Random, Schema } from "effect"
import type { StepContext } from "../workflow/StepContext.ts"
import { StepError } from "../workflow/StepError.ts"
import { Workflow } from "../workflow/Workflow.ts"

// ---------------------------------------------------------------------------------------------------------------
// Input and results
// ---------------------------------------------------------------------------------------------------------------

export const ShippingMethod = Schema.Literals(["standard", "express", "overnight"])
export type ShippingMethod = typeof ShippingMethod.Type

export const OrderInput = Schema.Struct({
  customer: Schema.Struct({ id: Schema.Int, name: Schema.String, email: Schema.String }),
  items: Schema.Array(Schema.Struct({ sku: Schema.String, quantity: Schema.Int, price: Schema.Finite })),
  payment: Schema.Struct({ method: Schema.String, token: Schema.String }),
  shipping: Schema.Struct({
    method: ShippingMethod,
    address: Schema.Struct({ street: Schema.String, city: Schema.String, state: Schema.String, zip: Schema.String })
  })
})
export type OrderInput = typeof OrderInput.Type

export const ValidatedItem = Schema.Struct({
  sku: Schema.String,
  product_name: Schema.String,
  quantity: Schema.Int,
  unit_price: Schema.Finite,
  line_total: Schema.Finite,
  available_stock: Schema.Int,
  category: Schema.String
})
export type ValidatedItem = typeof ValidatedItem.Type

export const ValidatedOrder = Schema.Struct({
  customer_validated: Schema.Literal(true),
  customer_id: Schema.Int,
  validated_items: Schema.Array(ValidatedItem),
  order_total: Schema.Finite,
  validation_status: Schema.Literal("complete"),
  validated_at: Schema.String
})
export type ValidatedOrder = typeof ValidatedOrder.Type

export const InventoryReservation = Schema.Struct({
  reservation_id: Schema.String,
  items_reserved: Schema.Int,
  reservation_status: Schema.Literal("confirmed"),
  total_reserved_value: Schema.Finite,
  expires_at: Schema.String,
  reserved_at: Schema.String,
  reservation_details: Schema.Array(Schema.Struct({
    sku: Schema.String,
    product_name: Schema.String,
    quantity_requested: Schema.Int,
    quantity_reserved: Schema.Int,
    unit_price: Schema.Finite,
    line_total: Schema.Finite,
    stock_location: Schema.String,
    reservation_reference: Schema.String
  }))
})
export type InventoryReservation = typeof InventoryReservation.Type

export const PaymentResult = Schema.Struct({
  payment_processed: Schema.Literal(true),
  payment_id: Schema.String,
  transaction_id: Schema.String,
  amount_charged: Schema.Finite,
  payment_method_used: Schema.String,
  gateway_response: Schema.Struct({
    status: Schema.Literal("succeeded"),
    processing_time_ms: Schema.Int,
    gateway_fee: Schema.Finite,
    reference: Schema.String
  }),
  processed_at: Schema.String,
  payment_status: Schema.Literal("completed")
})
export type PaymentResult = typeof PaymentResult.Type

export const ShipmentResult = Schema.Struct({
  shipment_id: Schema.String,
  tracking_number: Schema.String,
  shipping_status: Schema.Literal("label_created"),
  estimated_delivery: Schema.String,
  shipping_cost: Schema.Finite,
  carrier: Schema.String,
  service_type: Schema.String,
  label_url: Schema.String,
  processed_at: Schema.String
})
export type ShipmentResult = typeof ShipmentResult.Type

// ---------------------------------------------------------------------------------------------------------------
// The simulated outside world
// ---------------------------------------------------------------------------------------------------------------

export interface Product {
  readonly name: string
  readonly stock: number
  readonly category: string
  readonly location: string
}

/** The product catalog and warehouse inventory. */
export const catalog: Readonly<Record<string, Product>> = {
  "WIDGET-001": { name: "Premium Widget A", stock: 100, category: "widgets", location: "WH-EAST-A1" },
  "WIDGET-002": { name: "Deluxe Widget B", stock: 50, category: "widgets", location: "WH-WEST-B2" },
  "GADGET-002": { name: "Standard Gadget C", stock: 200, category: "gadgets", location: "WH-CENTRAL-C3" }
}

const lookupProduct = (sku: string): Product | undefined => Object.hasOwn(catalog, sku) ? catalog[sku] : undefined

/** The highest order total accepted, in cents (50 000.00). */
export const MAX_ORDER_TOTAL_CENTS = 5_000_000n

/** A price in cents; undefined when it is negative, not finite or has more than 2 decimals. */
export const toCents = (amount: number): bigint | undefined => {
  if (!Number.isFinite(amount) || amount < 0) return undefined
  const cents = Math.round(amount * 100)
  // the nearest double to cents/100 is what a 2-decimal literal parses to; anything else had more decimals
  return cents / 100 === amount ? BigInt(cents) : undefined
}

/** Cents as an amount with 2 decimals (exact for totals below 2^53 cents). */
export const fromCents = (cents: bigint): number => Number(cents) / 100

/** 2.9 % of `totalCents`, rounded to the nearest cent (half up). */
export const gatewayFeeCents = (totalCents: bigint): bigint => (totalCents * 29n + 500n) / 1000n

export const SHIPPING_BASE_CENTS: Readonly<Record<ShippingMethod, bigint>> = {
  standard: 899n,
  express: 1500n,
  overnight: 2500n
}

/** The shipping cost in cents: the method's base rate plus 125 cents per half pound beyond the first pound. */
export const shippingCostCents = (method: ShippingMethod, units: bigint): bigint => {
  const extraHalfPounds = units > 2n ? units - 2n : 0n
  return SHIPPING_BASE_CENTS[method] + 125n * extraHalfPounds
}

export const carriers: Readonly<Record<ShippingMethod, { carrier: string; service: string; businessDays: number }>> = {
  standard: { carrier: "UPS", service: "UPS Ground", businessDays: 5 },
  express: { carrier: "FedEx", service: "FedEx Express", businessDays: 2 },
  overnight: { carrier: "FedEx", service: "FedEx Overnight", businessDays: 1 }
}

/** The date (`YYYY-MM-DD`, UTC) `days` business days (Monday–Friday) after `from`. */
export const addBusinessDays = (from: Date, days: number): string => {
  const date = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()))
  let added = 0
  while (added < days) {
    date.setUTCDate(date.getUTCDate() + 1)
    const weekday = date.getUTCDay()
    if (weekday !== 0 && weekday !== 6) added++
  }
  return date.toISOString().slice(0, 10)
}

const randomHex = (digits: number): Effect.Effect<string> =>
  Effect.map(
    Random.nextIntBetween(0, 16 ** digits, { halfOpen: true }),
    (n) => n.toString(16).toUpperCase().padStart(digits, "0")
  )

const randomDigits = (digits: number): Effect.Effect<string> =>
  Effect.map(Random.nextIntBetween(0, 10 ** digits, { halfOpen: true }), (n) => String(n).padStart(digits, "0"))

const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))

const unixSeconds = (date: Date): number => Math.floor(date.getTime() / 1000)

const validationError = (code: string, message: string, details?: Schema.Json): StepError =>
  StepError.permanent(message, { code, errorType: "ValidationError", ...(details === undefined ? {} : { details }) })

// ---------------------------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------------------------

const validateOrder = Effect.fnUntraced(function*(ctx: StepContext<OrderInput>) {
  const { customer, items } = ctx.context
  if (customer.email.trim().length === 0) {
    return yield* validationError("MISSING_CUSTOMER_EMAIL", "customer email is required")
  }
  if (items.length === 0) return yield* validationError("EMPTY_ORDER_ITEMS", "the order has no items")

  const validated: Array<ValidatedItem> = []
  let totalCents = 0n
  for (const [index, item] of items.entries()) {
    if (item.sku.trim().length === 0) {
      return yield* validationError("INVALID_ORDER_ITEM", `order item ${index + 1} has no sku`, { item_index: index })
    }
    if (item.quantity <= 0) {
      return yield* validationError("INVALID_QUANTITY", `invalid quantity ${item.quantity} for product ${item.sku}`, {
        sku: item.sku,
        quantity: item.quantity
      })
    }
    const unitCents = toCents(item.price)
    if (unitCents === undefined) {
      return yield* validationError(
        "INVALID_PRICE",
        `invalid price ${item.price} for product ${item.sku}: must be >= 0 with at most 2 decimals`,
        { sku: item.sku, price: item.price }
      )
    }
    const product = lookupProduct(item.sku)
    if (product === undefined) {
      return yield* validationError("PRODUCT_NOT_FOUND", `product ${item.sku} not found`, { sku: item.sku })
    }
    const lineCents = unitCents * BigInt(item.quantity)
    totalCents += lineCents
    validated.push({
      sku: item.sku,
      product_name: product.name,
      quantity: item.quantity,
      unit_price: fromCents(unitCents),
      line_total: fromCents(lineCents),
      available_stock: product.stock,
      category: product.category
    })
  }
  if (totalCents > MAX_ORDER_TOTAL_CENTS) {
    // the total is exact as a string even when it is too large for a number
    const total = `${totalCents / 100n}.${String(totalCents % 100n).padStart(2, "0")}`
    return yield* validationError("ORDER_TOTAL_TOO_HIGH", `order total ${total} exceeds the maximum of 50000.00`, {
      order_total: total,
      max_allowed: fromCents(MAX_ORDER_TOTAL_CENTS)
    })
  }
  const validatedAt = yield* now
  return {
    customer_validated: true,
    customer_id: customer.id,
    validated_items: validated,
    order_total: fromCents(totalCents),
    validation_status: "complete",
    validated_at: validatedAt.toISOString()
  } satisfies ValidatedOrder
})

const reserveInventory = Effect.fnUntraced(function*(ctx: StepContext<OrderInput>) {
  const order = yield* ctx.dependency("validate_order", ValidatedOrder)
  const reservedAt = yield* now
  const reservationId = `RES-${unixSeconds(reservedAt)}-${yield* randomHex(4)}`

  const details: Array<InventoryReservation["reservation_details"][number]> = []
  let totalCents = 0n
  for (const item of order.validated_items) {
    const product = lookupProduct(item.sku)
    if (product === undefined) {
      return yield* StepError.permanent(`product ${item.sku} not found in the inventory system`, {
        code: "PRODUCT_NOT_FOUND",
        errorType: "InventoryError",
        details: { sku: item.sku }
      })
    }
    if (item.quantity > product.stock) {
      return yield* StepError.retryable(
        `insufficient stock for product ${item.sku}: available ${product.stock}, requested ${item.quantity}`,
        {
          code: "INSUFFICIENT_STOCK",
          errorType: "InventoryError",
          details: { sku: item.sku, requested_quantity: item.quantity, available_stock: product.stock }
        }
      )
    }
    // validate_order only emits 2-decimal prices, so this cannot be undefined for its results
    const unitCents = toCents(item.unit_price) ?? 0n
    const lineCents = unitCents * BigInt(item.quantity)
    totalCents += lineCents
    details.push({
      sku: item.sku,
      product_name: item.product_name,
      quantity_requested: item.quantity,
      quantity_reserved: item.quantity,
      unit_price: fromCents(unitCents),
      line_total: fromCents(lineCents),
      stock_location: product.location,
      reservation_reference: `${reservationId}-${item.sku}`
    })
  }
  return {
    reservation_id: reservationId,
    items_reserved: details.length,
    reservation_status: "confirmed",
    total_reserved_value: fromCents(totalCents),
    expires_at: new Date(reservedAt.getTime() + 15 * 60 * 1000).toISOString(),
    reserved_at: reservedAt.toISOString(),
    reservation_details: details
  } satisfies InventoryReservation
})

const processPayment = Effect.fnUntraced(function*(ctx: StepContext<OrderInput>) {
  const order = yield* ctx.dependency("validate_order", ValidatedOrder)
  yield* ctx.dependency("reserve_inventory", InventoryReservation)
  const { method, token } = ctx.context.payment
  if (method.trim().length === 0) return yield* validationError("MISSING_PAYMENT_METHOD", "payment method is required")
  if (token.trim().length === 0) return yield* validationError("MISSING_PAYMENT_TOKEN", "payment token is required")

  const totalCents = toCents(order.order_total)
  if (totalCents === undefined) {
    return yield* validationError("INVALID_ORDER_TOTAL", `order total ${order.order_total} is not an amount in cents`)
  }
  const processedAt = yield* now
  const paymentId = `PAY-${unixSeconds(processedAt)}-${yield* randomHex(6)}`
  return {
    payment_processed: true,
    payment_id: paymentId,
    transaction_id: `TXN-${yield* randomHex(8)}`,
    amount_charged: fromCents(totalCents),
    payment_method_used: method,
    gateway_response: {
      status: "succeeded",
      processing_time_ms: yield* Random.nextIntBetween(50, 250),
      gateway_fee: fromCents(gatewayFeeCents(totalCents)),
      reference: `${paymentId}-${unixSeconds(processedAt)}`
    },
    processed_at: processedAt.toISOString(),
    payment_status: "completed"
  } satisfies PaymentResult
})

const shipOrder = Effect.fnUntraced(function*(ctx: StepContext<OrderInput>) {
  const order = yield* ctx.dependency("validate_order", ValidatedOrder)
  yield* ctx.dependency("reserve_inventory", InventoryReservation)
  yield* ctx.dependency("process_payment", PaymentResult)
  const method = ctx.context.shipping.method
  const { businessDays, carrier, service } = carriers[method]
  const units = order.validated_items.reduce((sum, item) => sum + BigInt(item.quantity), 0n)

  const processedAt = yield* now
  const shipmentId = `SHIP-${unixSeconds(processedAt)}-${yield* randomHex(4)}`
  const trackingNumber = carrier === "UPS" ? `1Z${yield* randomHex(8)}${yield* randomHex(8)}` : yield* randomDigits(12)
  return {
    shipment_id: shipmentId,
    tracking_number: trackingNumber,
    shipping_status: "label_created",
    estimated_delivery: addBusinessDays(processedAt, businessDays),
    shipping_cost: fromCents(shippingCostCents(method, units)),
    carrier,
    service_type: service,
    label_url: `https://labels.${carrier.toLowerCase()}.com/${shipmentId}.pdf`,
    processed_at: processedAt.toISOString()
  } satisfies ShipmentResult
})

export const OrderFulfillmentWorkflow = Workflow.make({
  namespace: "rust_e2e_order_fulfillment",
  name: "business_workflow",
  version: "1.0.0",
  description: "E-commerce order fulfillment: validate, reserve inventory, charge, ship",
  input: OrderInput
})
  .step("validate_order", {
    description: "Validate the customer and items against the catalog and compute the order total",
    output: ValidatedOrder,
    run: validateOrder
  })
  .step("reserve_inventory", {
    description: "Reserve the items in the warehouse for 15 minutes",
    dependsOn: ["validate_order"],
    retry: { maxAttempts: 3, backoff: "exponential", backoffBaseMs: 200 },
    output: InventoryReservation,
    run: reserveInventory
  })
  .step("process_payment", {
    description: "Charge the order total through the payment gateway",
    dependsOn: ["validate_order", "reserve_inventory"],
    retry: { maxAttempts: 2 },
    output: PaymentResult,
    run: processPayment
  })
  .step("ship_order", {
    description: "Create the shipping label with the carrier for the shipping method",
    dependsOn: ["validate_order", "reserve_inventory", "process_payment"],
    output: ShipmentResult,
    run: shipOrder
  })
