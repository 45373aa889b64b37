/**
 * The order fulfillment example end to end, one suite run against each database
 * (test/examples/OrderFulfillment.test.ts on PostgreSQL, test/embedded/Examples.test.ts on PGlite): exact totals, fee
 * and shipping for each method, validation failures (permanent), insufficient stock (retryable until the attempts are
 * used up) and contexts the input schema rejects.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import {
  addBusinessDays,
  InventoryReservation,
  PaymentResult,
  ShipmentResult,
  ValidatedOrder
} from "../../../src/examples/OrderFulfillmentWorkflow.ts"
import { TaskInitializer } from "../../../src/tasks/TaskInitializer.ts"
import { auditTransitions } from "../Audit.ts"
import type { DatabaseUnderTest } from "../Databases.ts"
import { errorOf, examplesLayer, type FinishedTask, resultOf, runTask, stepOf } from "../Harness.ts"

const namespace = "rust_e2e_order_fulfillment"
const name = "business_workflow"
const stepNames = ["validate_order", "reserve_inventory", "process_payment", "ship_order"]

type Item = {
  readonly sku: string
  readonly quantity: number
  readonly price: number
}

const order = (items: ReadonlyArray<Item>, shippingMethod = "standard", customerId = 12345) => ({
  customer: { id: customerId, name: "Jane Doe", email: "jane.doe@example.com" },
  items,
  payment: { method: "credit_card", token: "tok_test_12345" },
  shipping: {
    method: shippingMethod,
    address: { street: "123 Main St", city: "Springfield", state: "IL", zip: "62701" }
  }
})

const testItems: ReadonlyArray<Item> = [
  { sku: "WIDGET-001", quantity: 2, price: 29.99 },
  { sku: "GADGET-002", quantity: 1, price: 149.99 }
]

const run = (context: ReturnType<typeof order>) => runTask(namespace, name, context)

const decoded = <S extends Schema.Codec<unknown, unknown>>(task: FinishedTask, step: string, schema: S): S["Type"] =>
  Schema.decodeUnknownSync(schema)(resultOf(stepOf(task, step)))

const isoDay = /^\d{4}-\d{2}-\d{2}$/

/** The task is blocked by `failedStep`, which failed once with `code`, and no later step ran. */
const assertBlockedBy = (task: FinishedTask, failedStep: string, code: string, attempts: number, retryable: boolean) => {
  assert.strictEqual(task.status, "blocked_by_failures", code)
  const step = stepOf(task, failedStep)
  assert.strictEqual(step.current_state, "error", code)
  assert.strictEqual(step.attempts, attempts, code)
  const error = errorOf(step)
  assert.strictEqual(error.code, code)
  assert.strictEqual(error.retryable, retryable, code)
  for (const later of stepNames.slice(stepNames.indexOf(failedStep) + 1)) {
    assert.strictEqual(stepOf(task, later).current_state, "pending", `${code}: ${later}`)
    assert.strictEqual(stepOf(task, later).attempts, 0, `${code}: ${later}`)
  }
}

export const orderFulfillmentSuite = (db: DatabaseUnderTest) => {
  layer(examplesLayer(db), { excludeTestServices: true })(`order fulfillment example on ${db.name}`, (it) => {
    it.effect("fulfills a standard order with exact totals, fee and shipping", () =>
      Effect.gen(function*() {
        const task = yield* run(order(testItems))
        assert.strictEqual(task.status, "complete")
        for (const step of stepNames) {
          assert.strictEqual(stepOf(task, step).current_state, "complete", step)
          assert.strictEqual(stepOf(task, step).attempts, 1, step)
        }

        const validated = decoded(task, "validate_order", ValidatedOrder)
        assert.strictEqual(validated.customer_id, 12345)
        assert.strictEqual(validated.order_total, 209.97)
        assert.strictEqual(validated.validation_status, "complete")
        assert.deepStrictEqual(validated.validated_items, [
          {
            sku: "WIDGET-001",
            product_name: "Premium Widget A",
            quantity: 2,
            unit_price: 29.99,
            line_total: 59.98,
            available_stock: 100,
            category: "widgets"
          },
          {
            sku: "GADGET-002",
            product_name: "Standard Gadget C",
            quantity: 1,
            unit_price: 149.99,
            line_total: 149.99,
            available_stock: 200,
            category: "gadgets"
          }
        ])

        const reservation = decoded(task, "reserve_inventory", InventoryReservation)
        assert.match(reservation.reservation_id, /^RES-\d{10}-[0-9A-F]{4}$/)
        assert.strictEqual(reservation.items_reserved, 2)
        assert.strictEqual(reservation.reservation_status, "confirmed")
        assert.strictEqual(reservation.total_reserved_value, 209.97)
        assert.strictEqual(Date.parse(reservation.expires_at) - Date.parse(reservation.reserved_at), 15 * 60 * 1000)
        assert.deepStrictEqual(
          reservation.reservation_details.map((d) => [d.sku, d.quantity_reserved, d.line_total, d.stock_location]),
          [["WIDGET-001", 2, 59.98, "WH-EAST-A1"], ["GADGET-002", 1, 149.99, "WH-CENTRAL-C3"]]
        )
        assert.strictEqual(reservation.reservation_details[0]!.reservation_reference, `${reservation.reservation_id}-WIDGET-001`)

        const payment = decoded(task, "process_payment", PaymentResult)
        assert.strictEqual(payment.amount_charged, 209.97)
        assert.strictEqual(payment.gateway_response.gateway_fee, 6.09)
        assert.strictEqual(payment.gateway_response.status, "succeeded")
        assert.strictEqual(payment.payment_status, "completed")
        assert.strictEqual(payment.payment_method_used, "credit_card")
        assert.match(payment.payment_id, /^PAY-\d{10}-[0-9A-F]{6}$/)

        const shipment = decoded(task, "ship_order", ShipmentResult)
        assert.strictEqual(shipment.carrier, "UPS")
        assert.strictEqual(shipment.service_type, "UPS Ground")
        assert.strictEqual(shipment.shipping_cost, 10.24) // 8.99 + 3 units × 0.5 lb, 0.5 lb over the first pound
        assert.strictEqual(shipment.shipping_status, "label_created")
        assert.match(shipment.estimated_delivery, isoDay)
        assert.strictEqual(shipment.estimated_delivery, addBusinessDays(new Date(shipment.processed_at), 5))
        assert.match(shipment.tracking_number, /^1Z[0-9A-F]{16}$/)
        assert.strictEqual(shipment.label_url, `https://labels.ups.com/${shipment.shipment_id}.pdf`)
      }))

    it.effect("ships express and overnight orders with FedEx", () =>
      Effect.gen(function*() {
        const [express, overnight] = yield* Effect.all([
          run(order([{ sku: "WIDGET-002", quantity: 10, price: 5 }], "express")),
          run(order([{ sku: "WIDGET-001", quantity: 1, price: 0.05 }], "overnight"))
        ], { concurrency: "unbounded" })
        assert.strictEqual(express.status, "complete")
        assert.strictEqual(overnight.status, "complete")

        const expressShipment = decoded(express, "ship_order", ShipmentResult)
        assert.strictEqual(expressShipment.carrier, "FedEx")
        assert.strictEqual(expressShipment.service_type, "FedEx Express")
        assert.strictEqual(expressShipment.shipping_cost, 25) // 15.00 + 8 × 1.25
        assert.strictEqual(expressShipment.estimated_delivery, addBusinessDays(new Date(expressShipment.processed_at), 2))
        assert.match(expressShipment.tracking_number, /^\d{12}$/)
        const expressPayment = decoded(express, "process_payment", PaymentResult)
        assert.strictEqual(expressPayment.amount_charged, 50)
        assert.strictEqual(expressPayment.gateway_response.gateway_fee, 1.45)

        const overnightShipment = decoded(overnight, "ship_order", ShipmentResult)
        assert.strictEqual(overnightShipment.carrier, "FedEx")
        assert.strictEqual(overnightShipment.service_type, "FedEx Overnight")
        assert.strictEqual(overnightShipment.shipping_cost, 25)
        assert.strictEqual(
          overnightShipment.estimated_delivery,
          addBusinessDays(new Date(overnightShipment.processed_at), 1)
        )
        const overnightPayment = decoded(overnight, "process_payment", PaymentResult)
        assert.strictEqual(overnightPayment.amount_charged, 0.05)
        assert.strictEqual(overnightPayment.gateway_response.gateway_fee, 0) // 0.145 cents
      }))

    it.effect("invalid orders fail validation permanently and block the task", () =>
      Effect.gen(function*() {
        const cases = [
          { code: "ORDER_TOTAL_TOO_HIGH", items: [{ sku: "WIDGET-001", quantity: 100, price: 500.01 }] },
          { code: "PRODUCT_NOT_FOUND", items: [{ sku: "WIDGET-001", quantity: 1, price: 1 }, { sku: "NOPE-1", quantity: 1, price: 1 }] },
          { code: "INVALID_QUANTITY", items: [{ sku: "WIDGET-001", quantity: 0, price: 29.99 }] },
          { code: "INVALID_PRICE", items: [{ sku: "WIDGET-001", quantity: 1, price: 29.999 }] },
          { code: "INVALID_PRICE", items: [{ sku: "WIDGET-001", quantity: 1, price: -1 }] },
          { code: "INVALID_ORDER_ITEM", items: [{ sku: "", quantity: 1, price: 1 }] },
          { code: "EMPTY_ORDER_ITEMS", items: [] }
        ]
        const tasks = yield* Effect.forEach(cases, ({ items }) => run(order(items)), { concurrency: "unbounded" })
        cases.forEach(({ code }, i) => assertBlockedBy(tasks[i]!, "validate_order", code, 1, false))
        // exactly at the limit is accepted
        const atLimit = yield* run(order([{ sku: "WIDGET-001", quantity: 100, price: 500 }]))
        assert.strictEqual(atLimit.status, "complete")
        assert.strictEqual(decoded(atLimit, "process_payment", PaymentResult).amount_charged, 50000)
      }))

    it.effect("insufficient stock is retried, then blocks the task", () =>
      Effect.gen(function*() {
        const task = yield* run(order([{ sku: "WIDGET-002", quantity: 51, price: 10 }]))
        assert.strictEqual(stepOf(task, "validate_order").current_state, "complete")
        assertBlockedBy(task, "reserve_inventory", "INSUFFICIENT_STOCK", 3, true)
      }))

    it.effect("contexts that do not match the input schema are rejected at task creation", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const { customer: _customer, ...withoutCustomer } = order(testItems)
        const contexts = [
          { field: "context.customer", context: withoutCustomer },
          { field: "context.shipping.method", context: order(testItems, "teleport") },
          { field: "context.customer.id", context: { ...order(testItems), customer: { id: "c-1", name: "J", email: "j@x" } } },
          { field: "context.items.0.quantity", context: order([{ sku: "WIDGET-001", quantity: 1.5, price: 1 }]) }
        ]
        for (const { context, field } of contexts) {
          const error = yield* Effect.flip(init.createTask({ namespace, name, version: "1.0.0", context }))
          assert.strictEqual(error._tag, "InvalidTaskRequest", field)
          if (error._tag === "InvalidTaskRequest") {
            assert.strictEqual(error.field, field)
            // one line that starts with the field
            assert.isTrue(error.message.startsWith(`${field}: `), error.message)
            assert.notInclude(error.message, "\n")
          }
        }
        const quantity = yield* Effect.flip(
          init.createTask({ namespace, name, version: "1.0.0", context: order([{ sku: "WIDGET-001", quantity: 1.5, price: 1 }]) })
        )
        assert.strictEqual(quantity.message, "context.items.0.quantity: Expected an integer, got 1.5")
        const missing = yield* Effect.flip(init.createTask({ namespace, name, version: "1.0.0", context: withoutCustomer }))
        assert.strictEqual(missing._tag === "InvalidTaskRequest" ? missing.field : missing._tag, "context.customer")
      }))

    it.effect("an InvalidTaskRequest names the full path of a nested field", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const error = yield* Effect.flip(
          init.createTask({ namespace, name, version: "1.0.0", context: order(testItems, "teleport") })
        )
        assert.strictEqual(error._tag === "InvalidTaskRequest" ? error.field : error._tag, "context.shipping.method")
      }))

    it.effect("every recorded transition is one the state machines allow", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* auditTransitions, [])
      }))
  })
}
